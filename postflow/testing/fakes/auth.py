"""A fake AuthService whose state the test sets.

Status: whatever `set_status` makes it, sent to every WatchStatus stream. GetAccessToken
answers while CONNECTED (FAILED_PRECONDITION otherwise, as auth does) with a token the
emulator at `emulator_url` issues to its development client, fetched again on a forced
refresh of that token. Login: an identity provider that approves at once (the authorize URL
is `redirect_uri` itself); CompleteAuthorization checks the state, its expiry and the
browser binding as auth does, then connects Ada Editor."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import grpc

from postflow.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied
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


class FakeAuth(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, status: auth_pb2.AuthStatus | None = None, emulator_url: str = "",
                 login_ttl_s: float = 600) -> None:
        self.status = auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_DISCONNECTED, grant=auth_pb2.GRANT_KIND_WEB_APP)
        if status is not None:
            self.status.CopyFrom(status)
        self.emulator_url = emulator_url
        self.token = ""
        self.requests: list[auth_pb2.GetAccessTokenRequest] = []
        self.redirect_uri = "http://127.0.0.1:1/auth/callback"
        self.login_ttl_s = login_ttl_s
        self.pending: dict[str, PendingLogin] = {}
        self.live: Topic[auth_pb2.AuthStatus] = Topic(STATUS_BUFFER, Overflow.DROP_OLDEST, name="fake WatchStatus")

    def set_status(self, **fields: Any) -> None:
        status = auth_pb2.AuthStatus()
        status.CopyFrom(self.status)
        assign(status, **fields)
        self.status = status
        self.live.publish(status)

    async def GetAccessToken(self, request: auth_pb2.GetAccessTokenRequest,
                             context: grpc.aio.ServicerContext) -> auth_pb2.AccessToken:
        self.requests.append(request)
        if self.status.state != CONNECTED:
            raise FailedPrecondition("reconnect needed")
        if not self.token or (request.force_refresh and request.rejected_token == self.token):
            self.token = await client_credentials_token(self.emulator_url)
        return auth_pb2.AccessToken(access_token=self.token)

    async def GetStatus(self, request: auth_pb2.GetAuthStatusRequest,
                        context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        return self.status

    def WatchStatus(self, request: auth_pb2.WatchAuthStatusRequest,
                    context: grpc.aio.ServicerContext) -> AsyncIterator[auth_pb2.AuthStatus]:
        return follow(self.live, [self.status])

    async def BeginAuthorization(self, request: auth_pb2.BeginAuthorizationRequest,
                                 context: grpc.aio.ServicerContext) -> auth_pb2.BeginAuthorizationResponse:
        state = uuid.uuid4().hex
        self.pending[state] = PendingLogin(request.binding, time.monotonic() + self.login_ttl_s)
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
        self.set_status(state=CONNECTED, user_name="Ada Editor", user_email="ada@example.com",
                        access_expires_at=timestamp(time.time() + 86_400), connected_at=timestamp(), message="")
        return self.status

    async def Disconnect(self, request: auth_pb2.DisconnectRequest,
                         context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        self.set_status(state=auth_pb2.AUTH_STATE_DISCONNECTED, user_name="", user_email="", message="disconnected")
        return self.status
