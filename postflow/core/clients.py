"""Clients of the three gRPC services, used by the dashboard and the CLI."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.trace import TracerProvider

from postflow.core.config import Config
from postflow.core.errors import FailedPrecondition
from postflow.core.mesh.certs import CertPaths
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
    """Channels and stubs to auth, watcher and streamer (and each one's audit log, by name; with
    an API key and no admin certificate, the watcher's only); an async context manager."""

    def __init__(self, config: Config, tracer_provider: TracerProvider | None = None,
                 api_key: ApiKeyAccess | None = None) -> None:
        self._missing_certificate = api_key.admin_certificate if api_key else ""
        self._channels = {
            name: open_channel(getattr(config.services, name), tracer_provider)
            for name in ("auth", "streamer") if not self._missing_certificate
        }
        self._channels["watcher"] = (open_api_channel(api_key.address, api_key.ca, api_key.key, tracer_provider)
                                     if api_key else open_channel(config.services.watcher, tracer_provider))
        self.watcher = watcher_pb2_grpc.WatcherServiceStub(self._channels["watcher"])
        if not self._missing_certificate:
            self._auth = auth_pb2_grpc.AuthServiceStub(self._channels["auth"])
            self._streamer = streamer_pb2_grpc.StreamerServiceStub(self._channels["streamer"])
        self.audit = {name: audit_pb2_grpc.AuditServiceStub(channel) for name, channel in self._channels.items()}

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

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(channel.close() for channel in self._channels.values()))
