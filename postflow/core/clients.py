"""Clients of the three gRPC services, used by the dashboard and the CLI."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from opentelemetry.trace import TracerProvider

from postflow.core.config import Config
from postflow.core.errors import FailedPrecondition
from postflow.core.mesh.certs import CertPaths
from postflow.core.mesh.config import mesh_credentials
from postflow.core.mesh.identity import ADMIN
from postflow.core.rpc import open_api_channel, open_channel
from postflow.v1 import audit_pb2_grpc, auth_pb2_grpc, streamer_pb2_grpc, watcher_pb2_grpc

API_KEY_ENV = "POSTFLOW_API_KEY"


@dataclass(frozen=True)
class ApiKeyAccess:
    """The watcher's job API reached on its API port (mesh.api_listen) with an API key, rather
    than on its gRPC address with the admin certificate."""

    address: str
    ca: bytes  # the mesh CA, which the watcher's certificate must chain to
    key: str
    admin_certificate: str  # its path while it is missing (auth and the streamer take nothing else), else ""

    @classmethod
    def from_env(cls, config: Config, env: Mapping[str, str] = os.environ) -> ApiKeyAccess | None:
        """From $POSTFLOW_API_KEY; None when it is not set. Reads files: call before the event loop."""
        key = env.get(API_KEY_ENV, "")
        if not key:
            return None
        if not (config.mesh.mtls and config.mesh.api_listen):
            raise FailedPrecondition(f"{API_KEY_ENV} is set, but the watcher has no API port "
                                     "(mesh.mtls is off or mesh.api_listen is empty)")
        paths = CertPaths(config.certs_path)
        try:
            ca = paths.ca.read_bytes()
        except OSError as exc:
            raise FailedPrecondition(f"{API_KEY_ENV}: the mesh CA certificate {paths.ca}: {exc.strerror} "
                                     "(copy ca.pem from the PostFlow host there, or set mesh.certs_dir)") from None
        admin = paths.cert(ADMIN)
        return cls(config.mesh.api_listen, ca, key, "" if admin.exists() else str(admin))


class Clients:
    """Channels and stubs to auth, watcher and streamer (and each one's audit log, by name),
    calling as the mesh identity `identity` (its certificate, with mesh.mtls on); with an API
    key, the watcher on its API port (and, without the admin certificate, the watcher only).
    `open` them (or `async with`) first."""

    watcher: watcher_pb2_grpc.WatcherServiceStub
    audit: dict[str, audit_pb2_grpc.AuditServiceStub]

    def __init__(self, config: Config, tracer_provider: TracerProvider | None = None, identity: str = ADMIN,
                 api_key: ApiKeyAccess | None = None) -> None:
        self._config = config
        self._tracer_provider = tracer_provider
        self.identity = identity
        self._api_key = api_key
        self._missing_certificate = api_key.admin_certificate if api_key else ""
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def open(self) -> Clients:
        """Loads the identity's credentials (a ConfigError when missing) and opens the channels."""
        config, provider = self._config, self._tracer_provider
        if not self._missing_certificate:
            credentials = await mesh_credentials(config, self.identity)
            mesh_names = ("auth", "streamer") if self._api_key else ("auth", "watcher", "streamer")
            self._channels = {name: open_channel(getattr(config.services, name), provider, credentials, name)
                              for name in mesh_names}
            self._auth = auth_pb2_grpc.AuthServiceStub(self._channels["auth"])
            self._streamer = streamer_pb2_grpc.StreamerServiceStub(self._channels["streamer"])
        if self._api_key is not None:
            self._channels["watcher"] = open_api_channel(self._api_key.address, self._api_key.ca,
                                                         self._api_key.key, provider)
        self.watcher = watcher_pb2_grpc.WatcherServiceStub(self._channels["watcher"])
        self.audit = {name: audit_pb2_grpc.AuditServiceStub(channel) for name, channel in self._channels.items()}
        return self

    @property
    def auth(self) -> auth_pb2_grpc.AuthServiceStub:
        self._need_certificate("auth")
        return self._auth

    @property
    def streamer(self) -> streamer_pb2_grpc.StreamerServiceStub:
        self._need_certificate("the streamer")
        return self._streamer

    def _need_certificate(self, service: str) -> None:
        if self._missing_certificate:
            raise FailedPrecondition(f"this command calls {service}, which takes the admin certificate "
                                     f"({self._missing_certificate}, missing), not an API key: "
                                     f"{API_KEY_ENV} reaches the watcher's job API only")

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        await asyncio.gather(*(channel.close() for channel in channels.values()))

    async def __aenter__(self) -> Clients:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
