"""The fakes served over real gRPC: each on its own `GrpcServer` (the services' own health and
error mapping) on a loopback port it keeps when stopped and started again."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc

from postflow.core.config import Config, MeshConfig, ServicesConfig
from postflow.core.mesh.audit import AuditLog, audit_path
from postflow.core.mesh.guard import Security
from postflow.core.rpc import GrpcServer, Servicer
from postflow.testing.fakes.auth import FakeAuth
from postflow.testing.fakes.streamer import FakeStreamer
from postflow.testing.fakes.watcher import FakeWatcher
from postflow.v1 import auth_pb2, auth_pb2_grpc, streamer_pb2, streamer_pb2_grpc, watcher_pb2, watcher_pb2_grpc

STOP_GRACE_S = 0.2
GENERATED: dict[str, tuple[ModuleType, Callable[[Any, grpc.aio.Server], None]]] = {
    "watcher": (watcher_pb2, watcher_pb2_grpc.add_WatcherServiceServicer_to_server),
    "streamer": (streamer_pb2, streamer_pb2_grpc.add_StreamerServiceServicer_to_server),
    "auth": (auth_pb2, auth_pb2_grpc.add_AuthServiceServicer_to_server),
}


@dataclass
class FakeServices:
    watcher: FakeWatcher = field(default_factory=FakeWatcher)
    streamer: FakeStreamer = field(default_factory=FakeStreamer)
    auth: FakeAuth = field(default_factory=FakeAuth)
    ports: dict[str, int] = field(default_factory=dict)
    servers: dict[str, GrpcServer] = field(default_factory=dict)
    state_dir: Path | None = None  # set: each fake serves its audit log from there (else an empty one)

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    @property
    def config(self) -> Config:
        """A config whose `services` addresses are the fakes served now, outside the mesh (and
        `state_dir`, when set)."""
        config = Config(services=ServicesConfig(**{name: self.address(name) for name in self.ports}),
                        mesh=MeshConfig(mtls=False, api_listen=""))
        return config if self.state_dir is None else dataclasses.replace(config, state_dir=str(self.state_dir))

    async def start(self, *names: str) -> None:
        """Serves the named fakes (all three when none is named)."""
        for name in names or GENERATED:
            proto, add_to_server = GENERATED[name]
            audit = None if self.state_dir is None else AuditLog(audit_path(self.state_dir, name))
            server = GrpcServer(security=Security(name, None, audit=audit))
            server.add(Servicer(proto, add_to_server, getattr(self, name)))
            self.ports[name] = await server.start(f"127.0.0.1:{self.ports.get(name, 0)}")
            await server.set_serving(True)
            self.servers[name] = server

    async def stop(self, *names: str) -> None:
        """Stops serving the named fakes (all that serve when none is named)."""
        for name in names or list(self.servers):
            server = self.servers.pop(name)
            await server.stop(STOP_GRACE_S)
            if server.audit is not None:
                await server.audit.close()

    @contextlib.asynccontextmanager
    async def serving(self, *names: str) -> AsyncIterator[FakeServices]:
        await self.start(*names)
        try:
            yield self
        finally:
            await self.stop()
