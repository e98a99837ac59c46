"""Must show: auth killed with SIGKILL mid-refresh, with the emulator refusing refresh-token
reuse, comes back CONNECTED without a new login, except when the kill fell in the one window
no client can close (services/auth/custody.py): IMS acted on a refresh whose answer never
got written here. The emulator's ledger tells such a round apart (the stored refresh token
is "rotated"); it must then end in RECONNECT_NEEDED, reported, not a crash loop.

Two tests: kills placed exactly on each edge of the window through a proxy that holds a
refresh before or after IMS sees it, and kills at random moments among back-to-back forced
refreshes. Back to back, auth spends about half its time with a refresh at IMS, so about
half of those kills land in the window (in service, one round trip a day)."""

from __future__ import annotations

import asyncio
import contextlib
import random

import grpc
import pytest

from postflow.testing.auth import FORCE, process_harness, refreshes, refreshes_reached
from postflow.testing.emulator import issued_tokens, set_faults
from postflow.testing.holding_proxy import HoldingProxy
from postflow.testing.polling import wait_for
from postflow.v1 import auth_pb2_grpc

RANDOM_ROUNDS = 8
CRASH_FAULTS = {"access_token_ttl": 1, "reject_refresh_token_reuse": True}


async def hammer(stub: auth_pb2_grpc.AuthServiceStub) -> None:
    """Forced refreshes back to back, so that a kill lands in a refresh as often as not."""
    while True:
        with contextlib.suppress(grpc.aio.AioRpcError):
            await stub.GetAccessToken(FORCE, timeout=5)


@pytest.mark.asyncio
@pytest.mark.slow
async def test_sigkill_at_random_moments_among_refreshes(tmp_path, emulator):
    rng = random.Random(33)
    outcomes = []
    await set_faults(emulator.url, CRASH_FAULTS)
    async with process_harness(tmp_path, emulator.url) as harness:
        for _ in range(RANDOM_ROUNDS):
            load = asyncio.create_task(hammer(harness.stub))
            target = refreshes(await issued_tokens(emulator.url)) + 3
            await wait_for(lambda target=target: refreshes_reached(emulator.url, target), timeout=30)
            await asyncio.sleep(rng.uniform(0, 0.05))  # a random moment among the refreshes
            stored_state = await harness.kill_and_restart()
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
            assert stored_state in ("active", "rotated")
            if stored_state == "active":
                await harness.assert_connected()
            else:  # IMS rotated it; the successor never got written: the window
                await harness.assert_reconnect_needed()
            outcomes.append("survived" if stored_state == "active" else "in the window")
    print(f"SIGKILL rounds: {outcomes}")
    assert "survived" in outcomes, outcomes


@pytest.mark.asyncio
@pytest.mark.slow
async def test_sigkill_on_each_edge_of_the_window(tmp_path, emulator):
    await set_faults(emulator.url, CRASH_FAULTS)
    async with HoldingProxy(emulator.url) as proxy, process_harness(tmp_path, emulator.url, proxy.url) as harness:
        # Killed while the refresh request is on its way: IMS never saw it, the stored token lives.
        proxy.hold_next("before")
        pending = asyncio.ensure_future(harness.stub.GetAccessToken(FORCE))
        await proxy.holding.wait()
        assert await harness.kill_and_restart() == "active"
        proxy.release(drop=True)  # the request died with its process
        await harness.assert_connected()
        # Killed after IMS rotated, before its answer arrived: the window no client can close.
        proxy.hold_next("after")
        later = asyncio.ensure_future(harness.stub.GetAccessToken(FORCE))
        await proxy.holding.wait()
        assert await harness.kill_and_restart() == "rotated"
        proxy.release(drop=True)
        await harness.assert_reconnect_needed()
        for task in (pending, later):
            with contextlib.suppress(grpc.aio.AioRpcError):
                await task
