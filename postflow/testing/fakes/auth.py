"""A fake AuthService whose state the test sets.

Connections: "default", and those the test adds (`add_connection`, `remove_connection`); an
unknown name is NOT_FOUND, as auth answers. Status: whatever `set_status` makes a connection's,
sent to every WatchStatus stream. GetAccessToken answers while the connection is CONNECTED
(FAILED_PRECONDITION otherwise, as auth does) with a token the emulator at `emulator_url`
issues to its development client, fetched again on a forced refresh of that token. Login: an
identity provider that approves at once (the authorize URL is `redirect_uri` itself);
CompleteAuthorization checks the state, its expiry and the browser binding as auth does, then
connects Ada Editor on the connection that began the login."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import grpc

from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from postflow.core.pipelines import DEFAULT
from postflow.core.protos import timestamp
from postflow.core.pubsub import Overflow, Topic
from postflow.testing.emulator import client_credentials_token
from postflow.testing.fakes.messages import assign, follow
from postflow.v1 import auth_pb2, auth_pb2_grpc

STATUS_BUFFER = 512  # auth's status stream keeps the newest statuses of a slow reader
CONNECTED = auth_pb2.AUTH_STATE_CONNECTED


@dataclass
class PendingLogin:
    binding: str
    expires: float
    connection: str


class FakeAuth(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, status: auth_pb2.AuthStatus | None = None, emulator_url: str = "",
                 login_ttl_s: float = 600) -> None:
        self.emulator_url = emulator_url
        self.token = ""
        self.requests: list[auth_pb2.GetAccessTokenRequest] = []
        self.redirect_uri = "http://127.0.0.1:1/auth/callback"
        self.login_ttl_s = login_ttl_s
        self.pending: dict[str, PendingLogin] = {}
        self.live: Topic[auth_pb2.AuthStatus] = Topic(STATUS_BUFFER, Overflow.DROP_OLDEST, name="fake WatchStatus")
        self.statuses: dict[str, auth_pb2.AuthStatus] = {}
        self.add_connection(DEFAULT, status)

    @property
    def status(self) -> auth_pb2.AuthStatus:
        """The default connection's."""
        return self.statuses[DEFAULT]

    def add_connection(self, name: str, status: auth_pb2.AuthStatus | None = None) -> None:
        added = auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_DISCONNECTED, grant=auth_pb2.GRANT_KIND_WEB_APP)
        if status is not None:
            added.CopyFrom(status)
        added.connection = name
        self.statuses[name] = added
        self.live.publish(added)

    def remove_connection(self, name: str) -> None:
        del self.statuses[name]
        self.live.publish(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_REMOVED, connection=name))

    def set_status(self, connection: str = DEFAULT, **fields: Any) -> None:
        status = auth_pb2.AuthStatus()
        status.CopyFrom(self.of(connection))
        assign(status, **fields)
        self.statuses[connection] = status
        self.live.publish(status)

    def of(self, connection: str) -> auth_pb2.AuthStatus:
        """The connection's status; NOT_FOUND for a name it does not have, as auth answers."""
        found = self.statuses.get(connection or DEFAULT)
        if found is None:
            raise NotFound(f"connection {connection!r}: unknown (known: {', '.join(self.statuses)})")
        return found

    async def GetAccessToken(self, request: auth_pb2.GetAccessTokenRequest,
                             context: grpc.aio.ServicerContext) -> auth_pb2.AccessToken:
        self.requests.append(request)
        if self.of(request.connection).state != CONNECTED:
            raise FailedPrecondition("reconnect needed")
        if not self.token or (request.force_refresh and request.rejected_token == self.token):
            self.token = await client_credentials_token(self.emulator_url)
        return auth_pb2.AccessToken(access_token=self.token)

    async def GetStatus(self, request: auth_pb2.GetAuthStatusRequest,
                        context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        return self.of(request.connection)

    def WatchStatus(self, request: auth_pb2.WatchAuthStatusRequest,
                    context: grpc.aio.ServicerContext) -> AsyncIterator[auth_pb2.AuthStatus]:
        return follow(self.live, list(self.statuses.values()))

    async def ListConnections(self, request: auth_pb2.ListConnectionsRequest,
                              context: grpc.aio.ServicerContext) -> auth_pb2.ListConnectionsResponse:
        return auth_pb2.ListConnectionsResponse(connections=list(self.statuses.values()))

    async def BeginAuthorization(self, request: auth_pb2.BeginAuthorizationRequest,
                                 context: grpc.aio.ServicerContext) -> auth_pb2.BeginAuthorizationResponse:
        connection = self.of(request.connection).connection
        state = uuid.uuid4().hex
        self.pending[state] = PendingLogin(request.binding, time.monotonic() + self.login_ttl_s, connection)
        url = f"{self.redirect_uri}?{urlencode({'code': 'code-' + state, 'state': state})}"
        return auth_pb2.BeginAuthorizationResponse(authorize_url=url, state=state)

    async def CompleteAuthorization(self, request: auth_pb2.CompleteAuthorizationRequest,
                                    context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        login = self.pending.pop(request.state, None)
        if login is None:
            raise InvalidArgument("unknown or already used state")
        if login.expires < time.monotonic():
            raise FailedPrecondition("the login expired; start again")
        if login.binding != request.binding:
            raise PermissionDenied("the login was started in another browser")
        self.set_status(login.connection, state=CONNECTED, user_name="Ada Editor", user_email="ada@example.com",
                        access_expires_at=timestamp(time.time() + 86_400), connected_at=timestamp(), message="")
        return self.of(login.connection)

    async def Disconnect(self, request: auth_pb2.DisconnectRequest,
                         context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        connection = self.of(request.connection).connection
        self.set_status(connection, state=auth_pb2.AUTH_STATE_DISCONNECTED, user_name="", user_email="",
                        message="disconnected")
        return self.of(connection)
