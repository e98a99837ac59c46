"""Custody with a clock the test moves (IMS is still the emulator's): when a refresh is due,
what happens while IMS is down, and the order of "stored" and "used" for every rotation."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from postflow.core.errors import Unavailable
from postflow.testing.auth import BINDING, REDIRECT_URI, auth_config, authorize, token_store
from postflow.testing.clock import ManualClock
from postflow.testing.emulator import set_faults
from services.auth.custody import WEB_APP, Custody
from services.auth.identity import IdentityLookup
from services.auth.ims import ImsClient
from services.auth.login import WebLogin
from services.auth.relogin import Relogin
from services.auth.token_store import TokenStore


class SpyStore(TokenStore):
    def __init__(self, *args, events: list) -> None:
        super().__init__(*args)
        self.events = events

    def save(self, record: dict) -> None:
        super().save(record)
        if record["grant"]:
            self.events.append(("stored", record["grant"]["refresh_token"]))


class SpyIms(ImsClient):
    def __init__(self, *args, events: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.events = events

    async def refresh(self, refresh_token: str):
        self.events.append(("used", refresh_token))
        return await super().refresh(refresh_token)


@contextlib.asynccontextmanager
async def connected_custody(tmp_path, emulator_url: str, margin_s: float, events: list) -> AsyncIterator[tuple]:
    config = auth_config(tmp_path, emulator_url)
    clock = ManualClock(time.time())
    async with httpx.AsyncClient(timeout=10) as http:
        ims = SpyIms(http, config.frameio, clock=clock, events=events)
        custody = Custody(kind=WEB_APP, client_id=config.frameio.client_id,
                          store=SpyStore(token_store(config).directory, config.auth.token_key.encode(), events=events),
                          ims=ims, identify=IdentityLookup(http, emulator_url), refresh_margin_s=margin_s,
                          auto_refresh=False, relogin=Relogin(config.auth.refresh_token_lifetime_s,
                                                              config.auth.relogin_warning_s),
                          add_secret=lambda value: None, clock=clock)
        custody.load()
        web_login = WebLogin(ims, REDIRECT_URI, 60)
        code, state = await authorize(http, web_login.begin(BINDING).authorize_url)
        await custody.connect(await web_login.complete(code, state, BINDING))
        yield custody, clock
        await custody.stop()


@pytest.mark.asyncio
async def test_a_refresh_is_due_margin_before_expiry_never_before_half_life(tmp_path, emulator):
    await set_faults(emulator.url, {"access_token_ttl": 100})
    async with connected_custody(tmp_path, emulator.url, 20, []) as (custody, clock):
        first = await custody.access_token()
        clock.now += 79
        assert (await custody.access_token()).access_token == first.access_token
        clock.now += 2  # 19 s left: inside the 20 s margin
        second = await custody.access_token()
        assert second.access_token != first.access_token
    events: list = []
    async with connected_custody(tmp_path / "long-margin", emulator.url, 500, events) as (custody, clock):
        first = await custody.access_token()
        clock.now += 49  # a margin longer than the lifetime counts as half of it
        assert (await custody.access_token()).access_token == first.access_token
        clock.now += 2
        assert (await custody.access_token()).access_token != first.access_token


@pytest.mark.asyncio
async def test_an_ims_outage_hands_out_the_current_token_while_it_is_usable(tmp_path, emulator):
    await set_faults(emulator.url, {"access_token_ttl": 100})
    async with connected_custody(tmp_path, emulator.url, 40, []) as (custody, clock):
        current = await custody.access_token()
        await set_faults(emulator.url, {"server_error": {"status": 503, "path": "/ims/*", "count": 1000}})
        clock.now += 65  # due (40 s margin), still 35 s to live
        assert (await custody.access_token()).access_token == current.access_token
        clock.now += 15  # 20 s left: too close to expiry to hand out
        with pytest.raises(Unavailable, match="unavailable"):
            await custody.access_token()
        await set_faults(emulator.url, {"server_error": None})
        assert (await custody.access_token()).access_token != current.access_token


@pytest.mark.asyncio
async def test_every_refresh_token_is_stored_before_it_is_used(tmp_path, emulator):
    events: list = []
    async with connected_custody(tmp_path, emulator.url, 10, events) as (custody, clock):
        for _ in range(4):
            await custody.access_token(force=True)
    used = [token for kind, token in events if kind == "used"]
    assert len(used) == 4
    for token in used:
        assert events.index(("stored", token)) < events.index(("used", token))
    stored = [token for kind, token in events if kind == "stored"]
    assert len(set(used)) == 4 and stored[-1] not in used  # every refresh rotated; the last is kept for next time
