"""Clients of the three gRPC services, used by the dashboard and the CLI."""

from __future__ import annotations

import asyncio

import grpc
from opentelemetry.trace import TracerProvider

from postflow.core.config import Config
from postflow.core.mesh.config import mesh_credentials
from postflow.core.mesh.identity import ADMIN
from postflow.core.rpc import open_channel
from postflow.v1 import auth_pb2_grpc, streamer_pb2_grpc, watcher_pb2_grpc

SERVICES = ("auth", "watcher", "streamer")


class Clients:
    """Channels and stubs to auth, watcher and streamer, calling as the mesh identity
    `identity` (its certificate, with mesh.mtls on). `open` them (or `async with`) first."""

    auth: auth_pb2_grpc.AuthServiceStub
    watcher: watcher_pb2_grpc.WatcherServiceStub
    streamer: streamer_pb2_grpc.StreamerServiceStub

    def __init__(self, config: Config, tracer_provider: TracerProvider | None = None, identity: str = ADMIN) -> None:
        self._config = config
        self._tracer_provider = tracer_provider
        self.identity = identity
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def open(self) -> Clients:
        """Loads the identity's credentials (a ConfigError when missing) and opens the channels."""
        credentials = await mesh_credentials(self._config, self.identity)
        self._channels = {
            name: open_channel(getattr(self._config.services, name), self._tracer_provider, credentials, name)
            for name in SERVICES
        }
        self.auth = auth_pb2_grpc.AuthServiceStub(self._channels["auth"])
        self.watcher = watcher_pb2_grpc.WatcherServiceStub(self._channels["watcher"])
        self.streamer = streamer_pb2_grpc.StreamerServiceStub(self._channels["streamer"])
        return self

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        await asyncio.gather(*(channel.close() for channel in channels.values()))

    async def __aenter__(self) -> Clients:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
