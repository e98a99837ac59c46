"""Clients of the three gRPC services, used by the dashboard and the CLI."""

from __future__ import annotations

import asyncio

from opentelemetry.trace import TracerProvider

from postflow.core.config import Config
from postflow.core.rpc import open_channel
from postflow.v1 import audit_pb2_grpc, auth_pb2_grpc, streamer_pb2_grpc, watcher_pb2_grpc


class Clients:
    """Channels and stubs to auth, watcher and streamer (and each one's audit log, by name);
    an async context manager."""

    def __init__(self, config: Config, tracer_provider: TracerProvider | None = None) -> None:
        self._channels = {
            name: open_channel(getattr(config.services, name), tracer_provider)
            for name in ("auth", "watcher", "streamer")
        }
        self.auth = auth_pb2_grpc.AuthServiceStub(self._channels["auth"])
        self.watcher = watcher_pb2_grpc.WatcherServiceStub(self._channels["watcher"])
        self.streamer = streamer_pb2_grpc.StreamerServiceStub(self._channels["streamer"])
        self.audit = {name: audit_pb2_grpc.AuditServiceStub(channel) for name, channel in self._channels.items()}

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(channel.close() for channel in self._channels.values()))
