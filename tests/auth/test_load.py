"""Must show: with 3-second access tokens, 200 token requests spread over 30 s (in bursts of
concurrent callers) never get a token Frame.io rejects, and cause no more refreshes than
expiry requires: the callers drive the refreshes (no background loop) and share each one."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from postflow.testing.auth import auth_config, login, me_status, refreshes, running_auth
from postflow.testing.emulator import issued_tokens, set_faults
from postflow.v1 import auth_pb2

LIFETIME_S, MARGIN_S, WINDOW_S = 3, 1.0, 30.0
BURSTS, PER_BURST = 40, 5


@pytest.mark.asyncio
@pytest.mark.slow
async def test_200_requests_over_30s_see_no_401_and_share_each_refresh(tmp_path, emulator):
    await set_faults(emulator.url, {"access_token_ttl": LIFETIME_S})
    config = auth_config(tmp_path, emulator.url, auth={"refresh_margin_s": MARGIN_S},
                         frameio={"auto_token_refresh": False})
    rng = random.Random(4)
    async with running_auth(config) as auth, httpx.AsyncClient(timeout=10) as http:
        await login(auth.stub)
        before = refreshes(await issued_tokens(emulator.url))
        start = time.monotonic()
        results: list[tuple[str, int, float]] = []

        async def one_request() -> None:
            token = await auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest())
            status = await me_status(http, emulator.url, token.access_token)
            results.append((token.access_token, status, token.expires_at.ToNanoseconds() / 1e9 - time.time()))

        async def burst(at: float) -> None:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))  # the load's schedule
            await asyncio.gather(*(one_request() for _ in range(PER_BURST)))

        await asyncio.gather(*(burst(rng.uniform(0, WINDOW_S)) for _ in range(BURSTS)))
        elapsed = time.monotonic() - start
        done = refreshes(await issued_tokens(emulator.url)) - before

    assert len(results) == BURSTS * PER_BURST
    assert [status for _, status, _ in results if status != 200] == []
    assert min(left for _, _, left in results) > 0
    allowed = elapsed / (LIFETIME_S - MARGIN_S) + 1
    assert 5 <= done <= allowed, f"{done} refreshes in {elapsed:.1f}s (at most {allowed:.0f} needed)"
    assert len({token for token, _, _ in results}) <= done + 1  # concurrent callers shared each refresh
