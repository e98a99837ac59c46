"""Custody through the real service against the emulator: proactive and forced refresh,
rotation persisted, invalid_grant → reconnect needed → reconnect, logout, restarts,
server-to-server, and IMS outages."""

from __future__ import annotations

import asyncio
import time

import grpc
import httpx
import pytest

from postflow.testing.auth import (
    auth_config,
    login,
    me_status,
    refreshes,
    running_auth,
    stored_record,
    token_files,
    wait_state,
)
from postflow.testing.emulator import issued_tokens, revoke_at_ims, set_faults
from postflow.testing.polling import wait_for
from postflow.testing.rpc import rpc_error
from postflow.v1 import auth_pb2

GET = auth_pb2.GetAccessTokenRequest()


@pytest.mark.asyncio
async def test_tokens_are_refreshed_ahead_of_expiry_and_the_rotation_is_stored(tmp_path, emulator):
    await set_faults(emulator.url, {"access_token_ttl": 2})
    config = auth_config(tmp_path, emulator.url, auth={"refresh_margin_s": 1})
    async with running_auth(config) as auth:
        await login(auth.stub)
        first = await auth.stub.GetAccessToken(GET)
        refreshed = await wait_for(lambda: refreshes(emulator.state.tokens.describe()) >= 2, timeout=10)
        assert refreshed
        second = await auth.stub.GetAccessToken(GET)
        assert second.access_token != first.access_token
        assert second.expires_at.ToNanoseconds() / 1e9 > time.time()
        live = {t["value"] for t in emulator.state.tokens.describe() if t["state"] == "active"}
        stored = stored_record(config)["grant"]
        assert stored["refresh_token"] in live  # the rotated token reached the disk
        status = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())
        assert status.refresh_count >= 2 and status.last_refresh_at.seconds > 0
        assert auth.secrets.mask(second.access_token) == "***"  # every issued token is masked in logs


@pytest.mark.asyncio
async def test_force_refresh_replaces_a_rejected_token_once(tmp_path, emulator):
    async with running_auth(auth_config(tmp_path, emulator.url)) as auth:
        await login(auth.stub)
        old = (await auth.stub.GetAccessToken(GET)).access_token
        before = refreshes(await issued_tokens(emulator.url))
        forced = [auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True, rejected_token=old))
                  for _ in range(10)]
        new = {t.access_token for t in await asyncio.gather(*forced)}
        assert len(new) == 1 and old not in new
        assert refreshes(await issued_tokens(emulator.url)) == before + 1  # ten callers, one refresh
        late = await auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True, rejected_token=old))
        assert late.access_token in new  # someone already replaced `old`: no new refresh
        assert refreshes(await issued_tokens(emulator.url)) == before + 1


@pytest.mark.asyncio
async def test_invalid_grant_means_reconnect_needed_until_the_user_reconnects(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        await login(auth.stub)
        watch = auth.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest())
        assert (await watch.read()).state == auth_pb2.AUTH_STATE_CONNECTED
        refresh_token = stored_record(config)["grant"]["refresh_token"]
        await revoke_at_ims(emulator.url, refresh_token)
        error = await rpc_error(auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "reconnect" in error.details()
        seen = await watch.read()
        assert seen.state == auth_pb2.AUTH_STATE_RECONNECT_NEEDED and "invalid_grant" in seen.message
        plain = await rpc_error(auth.stub.GetAccessToken(GET))
        assert plain.code() == grpc.StatusCode.FAILED_PRECONDITION  # jobs wait on this, they do not fail
        assert stored_record(config)["grant"] is None
    async with running_auth(config) as auth:  # survives a restart
        status = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())
        assert status.state == auth_pb2.AUTH_STATE_RECONNECT_NEEDED
        assert (await login(auth.stub)).state == auth_pb2.AUTH_STATE_CONNECTED
        token = await auth.stub.GetAccessToken(GET)
        async with httpx.AsyncClient(timeout=10) as http:
            assert await me_status(http, emulator.url, token.access_token) == 200
        watch.cancel()


@pytest.mark.asyncio
async def test_disconnect_revokes_at_ims_and_wipes_the_store(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        await login(auth.stub)
        token = (await auth.stub.GetAccessToken(GET)).access_token
        status = await auth.stub.Disconnect(auth_pb2.DisconnectRequest())
        assert status.state == auth_pb2.AUTH_STATE_DISCONNECTED and not status.user_email
        assert token_files(config) == []
        issued = await issued_tokens(emulator.url)
        assert {t["kind"] for t in issued} == {"access", "refresh"} and {t["state"] for t in issued} == {"revoked"}
        async with httpx.AsyncClient(timeout=10) as http:
            assert await me_status(http, emulator.url, token) == 401
        error = await rpc_error(auth.stub.GetAccessToken(GET))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "not connected" in error.details()


@pytest.mark.asyncio
async def test_a_restart_keeps_the_connection_without_a_new_login(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        await login(auth.stub)
        before = await auth.stub.GetAccessToken(GET)
    async with running_auth(config) as auth:
        status = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())
        assert status.state == auth_pb2.AUTH_STATE_CONNECTED and status.user_email
        assert (await auth.stub.GetAccessToken(GET)).access_token == before.access_token


@pytest.mark.asyncio
async def test_an_ims_outage_is_unavailable_not_a_lost_connection(tmp_path, emulator):
    async with running_auth(auth_config(tmp_path, emulator.url)) as auth:
        await login(auth.stub)
        current = (await auth.stub.GetAccessToken(GET)).access_token
        await set_faults(emulator.url, {"server_error": {"status": 503, "path": "/ims/*", "count": 100}})
        error = await rpc_error(auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True)))
        assert error.code() == grpc.StatusCode.UNAVAILABLE and "unavailable" in error.details().lower()
        assert (await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())).state == auth_pb2.AUTH_STATE_CONNECTED
        await set_faults(emulator.url, {"server_error": None})
        fresh = await auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True))
        assert fresh.access_token != current


@pytest.mark.asyncio
async def test_server_to_server_gets_tokens_without_a_login(tmp_path, emulator):
    await set_faults(emulator.url, {"access_token_ttl": 2})
    config = auth_config(tmp_path, emulator.url, auth={"refresh_margin_s": 1},
                         frameio={"client_credentials": True, "oauth_web_app": False})
    async with running_auth(config) as auth:
        status = await wait_state(auth.stub, auth_pb2.AUTH_STATE_CONNECTED)
        assert status.grant == auth_pb2.GRANT_KIND_SERVER_TO_SERVER
        first = await auth.stub.GetAccessToken(GET)
        granted = [t for t in await issued_tokens(emulator.url) if t["grant_type"] == "client_credentials"]
        assert granted and all(t["kind"] == "access" for t in granted)
        assert "frame.s2s.all" in granted[0]["scope"]
        await wait_for(lambda: auth.service.connections.get("default").custody.status().refresh_count >= 1, timeout=10)
        second = await auth.stub.GetAccessToken(GET)
        assert second.access_token != first.access_token
        async with httpx.AsyncClient(timeout=10) as http:
            assert await me_status(http, emulator.url, second.access_token) == 200
        error = await rpc_error(auth.stub.Disconnect(auth_pb2.DisconnectRequest()))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.asyncio
async def test_health_is_serving_while_not_connected(tmp_path, emulator):
    from postflow.core.rpc import check_health

    async with running_auth(auth_config(tmp_path, emulator.url)) as auth:
        assert await check_health(auth.address) == "SERVING"
        assert await check_health(auth.address, service="postflow.v1.AuthService") == "SERVING"


@pytest.mark.asyncio
async def test_status_streams_end_when_the_service_stops(tmp_path, emulator):
    async with running_auth(auth_config(tmp_path, emulator.url)) as auth:
        watch = auth.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest())
        assert (await watch.read()).state == auth_pb2.AUTH_STATE_DISCONNECTED
        started = time.monotonic()
        await auth.service.stop()
        assert time.monotonic() - started < 2  # no wait for the 5 s grace
        assert await watch.read() == grpc.aio.EOF
        assert await watch.code() == grpc.StatusCode.OK


@pytest.mark.asyncio
async def test_server_to_server_rides_out_an_ims_outage_at_start(tmp_path, emulator):
    await set_faults(emulator.url, {"server_error": {"status": 503, "path": "/ims/*", "count": 1}})
    config = auth_config(tmp_path, emulator.url, frameio={"client_credentials": True, "oauth_web_app": False})
    async with running_auth(config) as auth:
        messages = []
        async for status in auth.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest()):
            messages.append(status.message)
            if status.state == auth_pb2.AUTH_STATE_CONNECTED:
                break
        assert any("unavailable" in m for m in messages), messages


@pytest.mark.asyncio
async def test_refused_client_credentials_are_reported_without_the_secret(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, frameio={"client_credentials": True, "oauth_web_app": False,
                                                          "client_secret": "wrong-secret-123"})
    async with running_auth(config) as auth:
        error = await rpc_error(auth.stub.GetAccessToken(GET))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        status = await wait_state(auth.stub, auth_pb2.AUTH_STATE_RECONNECT_NEEDED)
        assert "invalid_client" in status.message and "frameio.client_secret" in status.message
        assert "wrong-secret-123" not in status.message + error.details()
