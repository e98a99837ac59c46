"""`AuthService.apply_connections`: a new set of connections without a restart. Added ones
start (server-to-server ones connect on their own), removed ones stop and say so once on
WatchStatus, changed ones are rebuilt from their store, the rest are left alone; a set with a
connection lacking a client is refused whole."""

from __future__ import annotations

import grpc
import pytest

from postflow.core.config import ConfigError
from postflow.core.errors import Unavailable
from postflow.core.pipelines import ConnectionConfig, connections_of
from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from postflow.testing.auth import auth_config, login, running_auth, stored_record, token_files
from postflow.testing.polling import wait_for
from postflow.testing.rpc import rpc_error
from postflow.v1 import auth_pb2

CONNECTED = auth_pb2.AUTH_STATE_CONNECTED
DISCONNECTED = auth_pb2.AUTH_STATE_DISCONNECTED
REMOVED = auth_pb2.AUTH_STATE_REMOVED
WEB_APP = ConnectionConfig(client_id=DEV_CLIENT_ID, client_secret=DEV_CLIENT_SECRET, client_credentials=False)


async def listed(stub) -> list[tuple[str, int]]:
    response = await stub.ListConnections(auth_pb2.ListConnectionsRequest())
    return [(status.connection, status.state) for status in response.connections]


async def next_of(watch, connection: str) -> auth_pb2.AuthStatus:
    """The next status of `connection` on a WatchStatus stream."""
    while (status := await watch.read()).connection != connection:
        pass
    return status


@pytest.mark.asyncio
async def test_added_connections_start_and_removed_ones_stop_and_disappear(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, connections={"b": {}})
    async with running_auth(config) as auth:
        await login(auth.stub, connection="b")
        default = auth.service.connections.get("default")
        watch = auth.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest())
        assert [(await watch.read()).connection for _ in range(2)] == ["default", "b"]

        s2s = ConnectionConfig(client_id=DEV_CLIENT_ID, client_secret=DEV_CLIENT_SECRET, client_credentials=True)
        await auth.service.apply_connections({"default": connections_of(config)["default"], "c": WEB_APP,
                                              "robot": s2s})
        assert auth.service.connections.get("default") is default  # unchanged: left alone
        assert (await next_of(watch, "b")).state == REMOVED
        assert (await listed(auth.stub))[:2] == [("default", DISCONNECTED), ("c", DISCONNECTED)]
        assert (await next_of(watch, "c")).state == DISCONNECTED
        await wait_for(lambda: robot_connected(auth.stub), message="the server-to-server connection connects")
        error = await rpc_error(auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest(connection="b")))
        assert error.code() == grpc.StatusCode.NOT_FOUND and "known: default, c, robot" in error.details()
        assert token_files(config, "b"), "a removed connection's tokens stay on disk"

        await auth.service.apply_connections(connections_of(config))  # b back: its login with it
        assert (await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest(connection="b"))).state == CONNECTED
        assert [s for s, _ in await listed(auth.stub)] == ["default", "b"]
        watch.cancel()


async def robot_connected(stub) -> bool:
    status = await stub.GetStatus(auth_pb2.GetAuthStatusRequest(connection="robot"))
    return status.state == CONNECTED


@pytest.mark.asyncio
async def test_a_changed_client_rebuilds_only_that_connection(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, connections={"b": {}})
    async with running_auth(config) as auth:
        await login(auth.stub)
        await login(auth.stub, connection="b")
        watch = auth.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest())
        await watch.read(), await watch.read()
        before = auth.service.connections.get("default")
        old_b = auth.service.connections.get("b").custody
        stored = stored_record(config, "b")
        other_client = ConnectionConfig(client_id="another-client", client_secret="its-secret",
                                        client_credentials=False)
        await auth.service.apply_connections({**connections_of(config), "b": other_client})
        rebuilt = await next_of(watch, "b")
        assert rebuilt.state == DISCONNECTED  # the stored tokens belong to the old client
        assert auth.service.connections.get("default") is before
        assert (await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())).state == CONNECTED
        begun = await auth.stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding="x", connection="b"))
        assert "client_id=another-client" in begun.authorize_url
        with pytest.raises(Unavailable, match="rebuilt or removed"):  # a call that still held the old custody
            await old_b.access_token(force=True)
        with pytest.raises(Unavailable):
            await old_b.disconnect()
        assert stored_record(config, "b") == stored  # neither reached IMS or the store

        await auth.service.apply_connections(connections_of(config))  # the old client again: its login is back
        assert (await next_of(watch, "b")).state == CONNECTED
        watch.cancel()


@pytest.mark.asyncio
async def test_a_connection_without_a_client_is_refused_and_nothing_changes(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, connections={"b": {}})
    async with running_auth(config) as auth:
        no_secret = ConnectionConfig(client_id="own-client", client_credentials=False)
        with pytest.raises(ConfigError, match=r"connections\.x\.client_secret"):
            await auth.service.apply_connections({**connections_of(config), "x": no_secret})
        assert [name for name, _ in await listed(auth.stub)] == ["default", "b"]
