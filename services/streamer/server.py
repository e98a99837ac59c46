"""The streamer service: the public Range server, publications, the tunnel, pushes, and
the StreamerService gRPC API over them."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import httpx
from opentelemetry import trace

from postflow.core.config import ConfigError, require_watch_root, split_address
from postflow.core.rpc import GrpcServer, bind_address
from postflow.core.service import Runtime
from postflow.v1 import streamer_pb2_grpc
from services.streamer.events import EventHub
from services.streamer.file_reader import ReaderPool
from services.streamer.http_connection import HttpLimits
from services.streamer.progress import PullProgress
from services.streamer.publications import PublicationStore
from services.streamer.push import PushSettings
from services.streamer.range_http import RangeServer
from services.streamer.servicer import StreamerServicer
from services.streamer.tunnel import TunnelManager

log = logging.getLogger(__name__)

SERVICE_NAME = "postflow.v1.StreamerService"
PUSH_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
PURGE_EVERY_S = 3600.0


class StreamerService:
    def __init__(self, runtime: Runtime, grpc_address: str, http_address: str,
                 http_limits: HttpLimits | None = None) -> None:
        config = runtime.config
        self.runtime = runtime
        self.root = require_watch_root(config)
        self.grpc_address = grpc_address
        self.http_host, self.http_requested_port = split_address(http_address, "streamer.listen")
        database = config.state_path / "streamer" / "publications.sqlite"
        try:
            self.publications = PublicationStore(database, self.root, config.streamer.ticket_ttl_s)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"state_dir: cannot open {database}: {exc}") from None
        self.hub = EventHub()
        self.progress = PullProgress(self.hub.transfer)
        provider = runtime.tracer_provider
        tracer = provider.get_tracer(__name__) if provider is not None else trace.get_tracer(__name__)
        self.reader = ReaderPool()  # every file read of pulls and pushes
        self.range_server = RangeServer(
            self.publications, self.progress, max_ranges=config.streamer.max_ranges,
            max_connections_per_publication=config.streamer.max_connections_per_publication,
            tracer=tracer, limits=http_limits, reader=self.reader,
        )
        self.grpc: GrpcServer | None = None  # grpc.aio binds to the running loop: made in start()
        self.http: httpx.AsyncClient | None = None
        self.tunnel: TunnelManager | None = None
        self.grpc_port = 0
        self.http_port = 0
        self._purging: asyncio.Task | None = None

    async def start(self) -> None:
        config = self.runtime.config
        self.http = httpx.AsyncClient(timeout=PUSH_TIMEOUT, limits=httpx.Limits(max_keepalive_connections=32))
        self.http_port = await self.range_server.start(self.http_host, self.http_requested_port)
        self.tunnel = TunnelManager(config.streamer.tunnel, local_host=self.http_host, local_port=self.http_port,
                                    on_status=self.hub.tunnel, http=self.http)
        servicer = StreamerServicer(
            root=self.root, publications=self.publications, progress=self.progress, tunnel=self.tunnel,
            hub=self.hub, http=self.http, reader=self.reader,
            push_settings=PushSettings(config.transfer.part_concurrency, config.transfer.part_retries),
        )
        self.grpc = GrpcServer(self.runtime.tracer_provider)
        self.grpc.add(streamer_pb2_grpc.add_StreamerServiceServicer_to_server, servicer, SERVICE_NAME)
        self.grpc_port = await self.grpc.start(self.grpc_address)
        await self.tunnel.start()
        self._purging = asyncio.create_task(self._purge_forever(), name="purge-publications")
        await self.grpc.set_serving(True)
        log.info("range server on %s:%d, gRPC on port %d", self.http_host, self.http_port, self.grpc_port)

    async def _purge_forever(self) -> None:
        """A streamer that runs for months keeps neither rows nor memory for old publications."""
        while True:
            await asyncio.sleep(PURGE_EVERY_S)
            if purged := self.publications.purge():
                self.progress.forget(purged)
                log.info("forgot %d publications that ended more than a week ago", len(purged))

    async def stop(self) -> None:
        if self._purging is not None:
            self._purging.cancel()
        if self.grpc is not None:
            await self.grpc.set_serving(False)
        if self.tunnel is not None:
            await self.tunnel.stop()
        await self.range_server.stop()
        self.hub.close()
        if self.grpc is not None:
            await self.grpc.stop()
        if self.http is not None:
            await self.http.aclose()
        self.reader.close()
        self.publications.close()


def build_service(runtime: Runtime, *, grpc_address: str | None = None, http_address: str | None = None,
                  http_limits: HttpLimits | None = None) -> StreamerService:
    config = runtime.config
    return StreamerService(
        runtime,
        grpc_address or bind_address(config.services.streamer),
        http_address or config.streamer.listen,
        http_limits,
    )
