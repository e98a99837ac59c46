"""AuthService handlers: translate requests to calls on the connection they name, and back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from postflow.core.errors import FailedPrecondition
from postflow.core.protos import timestamp
from postflow.v1 import auth_pb2, auth_pb2_grpc
from services.auth.connections import Connection, Connections
from services.auth.custody import SERVER_TO_SERVER


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    async def GetAccessToken(self, request: auth_pb2.GetAccessTokenRequest,
                             context: grpc.aio.ServicerContext) -> auth_pb2.AccessToken:
        custody = self.connections.get(request.connection).custody
        grant = await custody.access_token(request.force_refresh, request.rejected_token)
        return auth_pb2.AccessToken(access_token=grant.access_token, expires_at=timestamp(grant.expires_at))

    async def GetStatus(self, request: auth_pb2.GetAuthStatusRequest,
                        context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        return self.connections.get(request.connection).custody.status()

    async def WatchStatus(self, request: auth_pb2.WatchAuthStatusRequest,
                          context: grpc.aio.ServicerContext) -> AsyncIterator[auth_pb2.AuthStatus]:
        async for status in self.connections.watch():
            yield status

    async def ListConnections(self, request: auth_pb2.ListConnectionsRequest,
                              context: grpc.aio.ServicerContext) -> auth_pb2.ListConnectionsResponse:
        return auth_pb2.ListConnectionsResponse(connections=self.connections.statuses())

    async def BeginAuthorization(self, request: auth_pb2.BeginAuthorizationRequest,
                                 context: grpc.aio.ServicerContext) -> auth_pb2.BeginAuthorizationResponse:
        connection = web_app(self.connections.get(request.connection))
        started = connection.login.begin(request.binding, request.redirect_uri)
        return auth_pb2.BeginAuthorizationResponse(authorize_url=started.authorize_url, state=started.state,
                                                   expires_at=timestamp(started.expires_at))

    async def CompleteAuthorization(self, request: auth_pb2.CompleteAuthorizationRequest,
                                    context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        connection = web_app(self.connections.completing(request.state, request.connection))
        tokens = await connection.login.complete(request.code, request.state, request.binding)
        return await connection.custody.connect(tokens)

    async def Disconnect(self, request: auth_pb2.DisconnectRequest,
                         context: grpc.aio.ServicerContext) -> auth_pb2.AuthStatus:
        return await self.connections.get(request.connection).custody.disconnect()


def web_app(connection: Connection) -> Connection:
    if connection.custody.kind == SERVER_TO_SERVER:
        raise FailedPrecondition(f"connection {connection.name!r} uses server-to-server (client_credentials): there "
                                 "is no login; tokens are fetched with the client credentials")
    return connection
