"""AuthService handlers: translate requests to custody and login calls, and back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from postflow.core.errors import FailedPrecondition
from postflow.core.protos import timestamp
from postflow.v1 import auth_pb2, auth_pb2_grpc
from services.auth.custody import SERVER_TO_SERVER, Custody
from services.auth.login import WebLogin


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, custody: Custody, login: WebLogin) -> None:
        self.custody = custody
        self.login = login

    async def GetAccessToken(self, request: auth_pb2.GetAccessTokenRequest,
                             context: grpc.aio.ServicerContext) -> auth_pb2.AccessToken:
        grant = await self.custody.access_token(request.force_refresh, request.rejected_token)
        return auth_pb2.AccessToken(access_token=grant.access_token, expires_at=timestamp(grant.expires_at))

    async def GetStatus(self, request: auth_pb2.GetAuthStatusRequest,
                        context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        return self.custody.status()

    async def WatchStatus(self, request: auth_pb2.WatchAuthStatusRequest,
                          context: grpc.aio.ServicerContext) -> AsyncIterator[auth_pb2.AuthStatus]:
        async for status in self.custody.watch():
            yield status

    async def BeginAuthorization(self, request: auth_pb2.BeginAuthorizationRequest,
                                 context: grpc.aio.ServicerContext) -> auth_pb2.BeginAuthorizationResponse:
        self._require_web_app()
        started = self.login.begin(request.binding, request.redirect_uri)
        return auth_pb2.BeginAuthorizationResponse(authorize_url=started.authorize_url, state=started.state,
                                                   expires_at=timestamp(started.expires_at))

    async def CompleteAuthorization(self, request: auth_pb2.CompleteAuthorizationRequest,
                                    context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        self._require_web_app()
        tokens = await self.login.complete(request.code, request.state, request.binding)
        return await self.custody.connect(tokens)

    async def Disconnect(self, request: auth_pb2.DisconnectRequest,
                         context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        return await self.custody.disconnect()

    def _require_web_app(self) -> None:
        if self.custody.kind == SERVER_TO_SERVER:
            raise FailedPrecondition("server-to-server (client_credentials) is configured: there is no login; "
                                     "tokens are fetched with the client credentials")
