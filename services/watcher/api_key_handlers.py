"""WatcherService's API-key handlers (admin only, by postflow.core.mesh.policy): create, list
and revoke the keys other tools call the job API with."""

from __future__ import annotations

import grpc

from postflow.core.mesh.api_keys import ApiKey, ApiKeys
from postflow.core.protos import timestamp
from postflow.v1 import watcher_pb2


def key_proto(record: ApiKey) -> watcher_pb2.ApiKey:
    return watcher_pb2.ApiKey(
        name=record.name, scopes=sorted(record.scopes), created_at=timestamp(record.created_at),
        last_used_at=None if record.last_used_at is None else timestamp(record.last_used_at),
        revoked_at=None if record.revoked_at is None else timestamp(record.revoked_at))


class ApiKeyHandlers:
    """Mixed into WatcherServicer, which sets `api_keys`."""

    api_keys: ApiKeys

    async def CreateApiKey(self, request: watcher_pb2.CreateApiKeyRequest,
                           context: grpc.aio.ServicerContext) -> watcher_pb2.CreateApiKeyResponse:
        key, record = await self.api_keys.create(request.name, request.scopes)
        return watcher_pb2.CreateApiKeyResponse(key=key, api_key=key_proto(record))

    async def ListApiKeys(self, request: watcher_pb2.ListApiKeysRequest,
                          context: grpc.aio.ServicerContext) -> watcher_pb2.ListApiKeysResponse:
        return watcher_pb2.ListApiKeysResponse(api_keys=[key_proto(record) for record in await self.api_keys.list()])

    async def RevokeApiKey(self, request: watcher_pb2.RevokeApiKeyRequest,
                           context: grpc.aio.ServicerContext) -> watcher_pb2.ApiKey:
        return key_proto(await self.api_keys.revoke(request.name))
