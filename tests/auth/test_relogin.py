"""The re-login deadline (IMS ends a login's refresh token 14 days after it, refreshes do not
extend that): login time + auth.refresh_token_lifetime_s, kept by refreshes and restarts,
migrated for records stored before it existed, a warning once, then RECONNECT_NEEDED at the
deadline without another refresh at IMS."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from postflow.core.errors import FailedPrecondition
from postflow.core.protos import to_seconds
from postflow.testing.auth import (
    BINDING,
    REDIRECT_URI,
    auth_config,
    authorize,
    login,
    refreshes,
    running_auth,
    stored_record,
    token_store,
)
from postflow.testing.clock import ManualClock
from postflow.testing.emulator import issued_tokens, set_faults
from postflow.testing.polling import wait_for
from postflow.testing.rpc import rpc_error
from postflow.v1 import auth_pb2
from services.auth.custody import WEB_APP, Custody
from services.auth.grant import from_record
from services.auth.identity import IdentityLookup
from services.auth.ims import ImsClient
from services.auth.login import WebLogin
from services.auth.relogin import Relogin

DAY = 86400.0
LIFETIME_S = 14 * DAY
WARNING_S = 2 * DAY
CONNECTED = auth_pb2.AUTH_STATE_CONNECTED
RECONNECT_NEEDED = auth_pb2.AUTH_STATE_RECONNECT_NEEDED


@contextlib.asynccontextmanager
async def custody_at(config, http: httpx.AsyncClient, clock: ManualClock) -> AsyncIterator[Custody]:
    """A custody over the config's store (loaded: a restart), on the test's clock."""
    custody = Custody(kind=WEB_APP, client_id=config.frameio.client_id, store=token_store(config),
                      ims=ImsClient(http, config.frameio, clock=clock),
                      identify=IdentityLookup(http, config.frameio.api_base_url), refresh_margin_s=300,
                      auto_refresh=False, relogin=Relogin(LIFETIME_S, WARNING_S),
                      add_secret=lambda value: None, clock=clock)
    custody.load()
    yield custody
    await custody.stop()


async def connect(custody: Custody, config, http: httpx.AsyncClient, clock: ManualClock) -> auth_pb2.AuthStatus:
    web_login = WebLogin(ImsClient(http, config.frameio, clock=clock), REDIRECT_URI, 60)
    code, state = await authorize(http, web_login.begin(BINDING).authorize_url)
    return await custody.connect(await web_login.complete(code, state, BINDING))


def deadline(status: auth_pb2.AuthStatus) -> float:
    assert status.HasField("reauth_deadline")
    return to_seconds(status.reauth_deadline)


@pytest.mark.asyncio
async def test_the_deadline_counts_from_login_through_refreshes_and_restarts(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    clock = ManualClock(time.time())
    login_at = clock.now
    async with httpx.AsyncClient(timeout=10) as http:
        async with custody_at(config, http, clock) as custody:
            status = await connect(custody, config, http, clock)
            assert deadline(status) == pytest.approx(login_at + LIFETIME_S, abs=1e-3) and not status.reauth_soon
            clock.now += 5 * DAY
            await custody.access_token(force=True)
            refreshed = custody.status()
            assert refreshed.refresh_count == 1 and deadline(refreshed) == deadline(status)  # not extended
        assert stored_record(config)["grant"]["reauth_deadline"] == pytest.approx(login_at + LIFETIME_S, abs=1e-3)
        clock.now = login_at + LIFETIME_S - WARNING_S + 1
        async with custody_at(config, http, clock) as custody:  # a restart, inside the warning window
            restarted = custody.status()
            assert restarted.state == CONNECTED and deadline(restarted) == deadline(status)
            assert restarted.reauth_soon
        clock.now = login_at + LIFETIME_S + 1
        async with custody_at(config, http, clock) as custody:  # a restart after the deadline
            lapsed = custody.status()
            assert lapsed.state == RECONNECT_NEEDED and "login expired on" in lapsed.message
            assert stored_record(config)["grant"] is None
            assert (await connect(custody, config, http, clock)).state == CONNECTED  # a new login: a new deadline
            assert deadline(custody.status()) == pytest.approx(clock.now + LIFETIME_S, abs=1e-3)


@pytest.mark.asyncio
async def test_at_the_deadline_tokens_are_refused_without_asking_ims(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    clock = ManualClock(time.time())
    async with httpx.AsyncClient(timeout=10) as http, custody_at(config, http, clock) as custody:
        status = await connect(custody, config, http, clock)
        before = refreshes(await issued_tokens(emulator.url))
        clock.now = deadline(status)
        for force in (False, True):
            with pytest.raises(FailedPrecondition, match="reconnecting: the login expired on"):
                await custody.access_token(force=force)
        assert custody.status().state == RECONNECT_NEEDED
        assert refreshes(await issued_tokens(emulator.url)) == before  # the dead refresh token was not tried
        assert stored_record(config)["grant"] is None


def test_a_record_stored_before_the_deadline_existed_gets_login_plus_lifetime():
    grant = {"kind": "GRANT_KIND_WEB_APP", "client_id": "c", "access_token": "a", "refresh_token": "r",
             "issued_at": 5000.0, "expires_at": 9000.0, "connected_at": 1000.0, "last_refresh_at": 5000.0,
             "refresh_count": 3, "user_name": "", "user_email": "", "account_id": ""}
    v1 = {"version": 1, "state": "AUTH_STATE_CONNECTED", "message": "connected", "grant": grant}
    state, _, migrated = from_record(v1, LIFETIME_S)
    assert state == CONNECTED and migrated is not None and migrated.reauth_deadline == 1000.0 + LIFETIME_S
    s2s = {**v1, "grant": {**grant, "kind": "GRANT_KIND_SERVER_TO_SERVER"}}
    assert from_record(s2s, LIFETIME_S)[2].reauth_deadline == 0.0  # no login, no deadline
    with pytest.raises(ValueError, match="record version 3"):
        from_record({**v1, "version": 3}, LIFETIME_S)


@pytest.mark.asyncio
async def test_the_warning_comes_once_then_reconnect_needed_at_the_deadline(tmp_path, emulator, caplog):
    caplog.set_level(logging.WARNING, logger="services.auth")
    config = auth_config(tmp_path, emulator.url, auth={"refresh_token_lifetime_s": 4, "relogin_warning_s": 2})
    async with running_auth(config) as auth:
        watch = auth.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest())
        assert (await watch.read()).state == auth_pb2.AUTH_STATE_DISCONNECTED
        connected = await login(auth.stub)
        assert connected.HasField("reauth_deadline")
        seen = []
        while (status := await watch.read()).state != RECONNECT_NEEDED:
            seen.append((status.state, status.reauth_soon))
        assert (CONNECTED, False) in seen and seen[-1] == (CONNECTED, True), seen  # the warning, published
        assert "login expired on" in status.message and not status.HasField("reauth_deadline")
        warnings = [r.getMessage() for r in caplog.records if "reconnect before then" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].startswith("Frame.io login expires on "), warnings
        before = refreshes(await issued_tokens(emulator.url))
        error = await rpc_error(auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION  # jobs wait on this
        assert refreshes(await issued_tokens(emulator.url)) == before
        assert stored_record(config)["grant"] is None


@pytest.mark.asyncio
async def test_server_to_server_has_no_deadline(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, auth={"refresh_token_lifetime_s": 1},
                         frameio={"client_credentials": True, "oauth_web_app": False})
    async with running_auth(config) as auth:
        token = await auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest())
        assert token.access_token
        status = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())
        assert status.state == CONNECTED and not status.HasField("reauth_deadline") and not status.reauth_soon


@pytest.mark.asyncio
async def test_ims_ending_the_login_first_means_reconnect_needed_at_once(tmp_path, emulator):
    await set_faults(emulator.url, {"refresh_token_ttl": 1})  # IMS: 1 s from login; auth believes 14 days
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        await login(auth.stub)
        refresh_token = stored_record(config)["grant"]["refresh_token"]

        async def expired_at_ims() -> bool:
            return {t["value"]: t["state"] for t in await issued_tokens(emulator.url)}[refresh_token] == "expired"

        await wait_for(expired_at_ims, message="the refresh token expired at IMS")
        error = await rpc_error(auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "invalid_token" in error.details()
        status = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())
        assert status.state == RECONNECT_NEEDED and "Connect again" in status.message
        assert stored_record(config)["grant"] is None  # nothing left to try IMS with again
