"""Several Frame.io connections in one auth service: each its own login (bound by its state),
token store, refresh and re-login deadline; an unknown name is NOT_FOUND; WatchStatus and
ListConnections give every connection; the default keeps the token files of before."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest

from postflow.core.config import load_config, write_config
from postflow.testing.auth import (
    BINDING,
    auth_config,
    authorize,
    config_dict,
    login,
    running_auth,
    stored_record,
    token_files,
    token_store,
)
from postflow.testing.emulator import revoke_at_ims
from postflow.testing.rpc import rpc_error
from postflow.v1 import auth_pb2

CONNECTED = auth_pb2.AUTH_STATE_CONNECTED
DISCONNECTED = auth_pb2.AUTH_STATE_DISCONNECTED
RECONNECT_NEEDED = auth_pb2.AUTH_STATE_RECONNECT_NEEDED
DAY = 86400.0


def states(response: auth_pb2.ListConnectionsResponse) -> list[tuple[str, int]]:
    return [(status.connection, status.state) for status in response.connections]


async def status_of(stub, connection: str) -> auth_pb2.AuthStatus:
    return await stub.GetStatus(auth_pb2.GetAuthStatusRequest(connection=connection))


async def token_of(stub, connection: str, force: bool = False) -> str:
    request = auth_pb2.GetAccessTokenRequest(connection=connection, force_refresh=force)
    return (await stub.GetAccessToken(request)).access_token


@pytest.mark.asyncio
async def test_each_connection_logs_in_on_its_own_and_keeps_its_own_store(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, connections={"b": {}})
    async with running_auth(config) as auth:
        listed = await auth.stub.ListConnections(auth_pb2.ListConnectionsRequest())
        assert states(listed) == [("default", DISCONNECTED), ("b", DISCONNECTED)]
        assert "`postflow login --connection b`" in listed.connections[1].message
        assert (await login(auth.stub, connection="b")).connection == "b"
        assert (await status_of(auth.stub, "b")).state == CONNECTED
        default = await status_of(auth.stub, "")
        assert (default.connection, default.state) == ("default", DISCONNECTED)
        error = await rpc_error(auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest()))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert await token_of(auth.stub, "b")
        assert token_files(config) == []
        assert {path.name for path in token_files(config, "b")} == {"tokens-b.0.enc", "tokens-b.1.enc"}

        await login(auth.stub)
        listed = await auth.stub.ListConnections(auth_pb2.ListConnectionsRequest())
        assert states(listed) == [("default", CONNECTED), ("b", CONNECTED)]
        assert await token_of(auth.stub, "") != await token_of(auth.stub, "b")
    default_grant, b_grant = stored_record(config)["grant"], stored_record(config, "b")["grant"]
    assert default_grant["refresh_token"] != b_grant["refresh_token"]


@pytest.mark.asyncio
async def test_the_state_completes_the_login_of_the_connection_that_began_it(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, connections={"b": {}})
    async with running_auth(config) as auth:
        begun = await auth.stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding=BINDING, connection="b"))
        async with httpx.AsyncClient(timeout=10) as http:
            code, state = await authorize(http, begun.authorize_url)
        wrong = auth_pb2.CompleteAuthorizationRequest(code=code, state=state, binding=BINDING, connection="default")
        error = await rpc_error(auth.stub.CompleteAuthorization(wrong))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "'b', not 'default'" in error.details()
        status = await auth.stub.CompleteAuthorization(  # no connection named: the state's
            auth_pb2.CompleteAuthorizationRequest(code=code, state=state, binding=BINDING))
        assert (status.connection, status.state) == ("b", CONNECTED)
        assert (await status_of(auth.stub, "default")).state == DISCONNECTED
        assert stored_record(config) is None and stored_record(config, "b")["state"] == "AUTH_STATE_CONNECTED"


@pytest.mark.asyncio
async def test_an_unknown_connection_is_not_found_naming_the_known_ones(tmp_path, emulator):
    async with running_auth(auth_config(tmp_path, emulator.url, connections={"b": {}})) as auth:
        calls = [
            auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest(connection="nope")),
            auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(connection="nope")),
            auth.stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding=BINDING, connection="nope")),
            auth.stub.Disconnect(auth_pb2.DisconnectRequest(connection="nope")),
        ]
        for call in calls:
            error = await rpc_error(call)
            assert error.code() == grpc.StatusCode.NOT_FOUND
            assert "'nope'" in error.details() and "known: default, b" in error.details()


@pytest.mark.asyncio
async def test_watch_status_gives_every_connection_first_then_each_change(tmp_path, emulator):
    async with running_auth(auth_config(tmp_path, emulator.url, connections={"b": {}, "c": {}})) as auth:
        watch = auth.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest())
        first = [await watch.read() for _ in range(3)]
        assert [(status.connection, status.state) for status in first] == \
            [("default", DISCONNECTED), ("b", DISCONNECTED), ("c", DISCONNECTED)]
        await login(auth.stub, connection="c")
        change = await watch.read()
        while change.state != CONNECTED:  # the login's statuses (the identity comes after the tokens)
            assert change.connection == "c"
            change = await watch.read()
        assert change.connection == "c"
        watch.cancel()


@pytest.mark.asyncio
async def test_one_connections_refresh_and_reconnect_needed_leave_the_other_alone(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, connections={"b": {}})
    async with running_auth(config) as auth:
        await login(auth.stub)
        await login(auth.stub, connection="b")
        b_refresh_token = stored_record(config, "b")["grant"]["refresh_token"]
        await token_of(auth.stub, "", force=True)
        assert (await status_of(auth.stub, "default")).refresh_count == 1
        assert (await status_of(auth.stub, "b")).refresh_count == 0
        assert stored_record(config, "b")["grant"]["refresh_token"] == b_refresh_token

        await revoke_at_ims(emulator.url, b_refresh_token)
        error = await rpc_error(auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(connection="b",
                                                                                         force_refresh=True)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "`postflow login --connection b`" in error.details()
        assert (await status_of(auth.stub, "b")).state == RECONNECT_NEEDED
        assert (await status_of(auth.stub, "default")).state == CONNECTED
        assert await token_of(auth.stub, "default", force=True)
        assert stored_record(config, "b")["grant"] is None and stored_record(config)["grant"] is not None


def move_deadline(config, connection: str, deadline: float) -> None:
    store = token_store(config, connection)
    record = store.load()
    grant = record["grant"]
    store.save({**record, "grant": {**grant, "reauth_deadline": deadline}})


@pytest.mark.asyncio
async def test_each_connection_has_its_own_relogin_deadline(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, connections={"b": {}, "c": {}})
    async with running_auth(config) as auth:
        for connection in ("default", "b", "c"):
            await login(auth.stub, connection=connection)
    now = time.time()
    move_deadline(config, "b", now - 1)  # b's login has ended
    move_deadline(config, "c", now + DAY)  # c's ends inside the warning window (2 days)
    async with running_auth(config) as auth:
        lapsed = await status_of(auth.stub, "b")
        assert lapsed.state == RECONNECT_NEEDED and "Frame.io connection 'b'" in lapsed.message
        assert "login expired on" in lapsed.message
        soon = await status_of(auth.stub, "c")
        assert soon.state == CONNECTED and soon.reauth_soon
        default = await status_of(auth.stub, "default")
        assert default.state == CONNECTED and not default.reauth_soon
        assert default.reauth_deadline.seconds > now + 13 * DAY
        assert await token_of(auth.stub, "default", force=True) and await token_of(auth.stub, "c", force=True)
    assert stored_record(config, "b")["grant"] is None


@pytest.mark.asyncio
async def test_the_default_connection_keeps_the_token_files_of_a_single_connection_deployment(tmp_path, emulator):
    raw = config_dict(tmp_path / "state", emulator.url)
    write_config(raw, tmp_path / "single.json")
    write_config({**raw, "connections": {"b": {}}}, tmp_path / "several.json")
    single, several = (load_config(tmp_path / name, env={}) for name in ("single.json", "several.json"))
    async with running_auth(single) as auth:
        await login(auth.stub)
    assert {path.name for path in token_files(single)} == {"tokens.0.enc", "tokens.1.enc"}
    async with running_auth(several) as auth:
        assert (await status_of(auth.stub, "default")).state == CONNECTED
        assert await token_of(auth.stub, "default", force=True)
        assert (await status_of(auth.stub, "b")).state == DISCONNECTED
    assert token_files(several, "b") == []
