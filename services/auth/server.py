"""The auth service: token custody behind AuthService, for every Frame.io connection."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx

from postflow.core.config import ConfigError, require_client
from postflow.core.http import traced_client
from postflow.core.pipelines import ConnectionConfig, connections_of
from postflow.core.rpc import Servicer, bind_address
from postflow.core.service import GrpcService, Runtime
from postflow.v1 import auth_pb2, auth_pb2_grpc
from services.auth.connections import ConnectionBuilder, Connections, check_clients
from services.auth.metrics import ConnectionMetrics
from services.auth.servicer import AuthServicer
from services.auth.token_store import auth_dir, load_key

log = logging.getLogger(__name__)


def build_service(runtime: Runtime, *, grpc_address: str | None = None) -> AuthService:
    config = runtime.config
    require_client(config)
    check_clients(connections_of(config))
    return AuthService(runtime, auth_dir(config), load_key(config), grpc_address or bind_address(config.services.auth))


class AuthService(GrpcService):
    identity = "auth"

    def __init__(self, runtime: Runtime, store_dir: Path, store_key: bytes, grpc_address: str) -> None:
        super().__init__(runtime, grpc_address)
        self.store_dir = store_dir
        self.store_key = store_key
        self.http: httpx.AsyncClient | None = None
        self.connections: Connections | None = None

    async def open(self) -> None:
        config = self.runtime.config
        self.http = traced_client(self.runtime.tracer_provider, timeout=config.frameio.request_timeout_s, retries=1)
        self.connections = Connections(ConnectionBuilder(self.http, config.frameio, config.auth, self.store_dir,
                                                         self.store_key, self.runtime.add_secret))
        self.connections.open(connections_of(config))
        self.metrics.registry.register(ConnectionMetrics(self.connections))

    def servicers(self) -> list[Servicer]:
        assert self.connections is not None
        return [Servicer(auth_pb2, auth_pb2_grpc.add_AuthServiceServicer_to_server, AuthServicer(self.connections))]

    async def start_background(self) -> None:
        assert self.connections is not None
        self.connections.start()

    async def ready(self) -> None:
        """Ready once every connection's token store is loaded (by `open`), connected or not:
        "not connected" is a state the status reports, not ill health."""

    async def apply_connections(self, connections: dict[str, ConnectionConfig]) -> None:
        """Takes a new set of connections without a restart (e.g. `connections_of` of a reloaded
        config): added ones start, removed ones stop, changed ones are rebuilt. A connection
        without a client raises ConfigError and changes nothing."""
        assert self.connections is not None, "apply_connections before start"
        await self.connections.apply(connections)

    async def reload(self) -> None:
        """SIGHUP: the connections of the config file as it is now; one it cannot take is logged
        naming the key, and the connections of before stay."""
        try:
            config = await asyncio.to_thread(self.runtime.read_config)
            await self.apply_connections(connections_of(config))
        except ConfigError as exc:
            log.error("config not reloaded, the connections of before stay: %s", exc)
            return
        log.info("config reloaded: connections %s", ", ".join(connections_of(config)))

    def end_streams(self) -> None:
        if self.connections is not None:
            self.connections.end_watches()

    async def close(self) -> None:
        if self.connections is not None:
            await self.connections.stop()
        if self.http is not None:
            await self.http.aclose()
