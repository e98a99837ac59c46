"""The streamer service: the public Range server, publications, the tunnel, pushes, the
bandwidth limit they share, and the StreamerService gRPC API over them."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import grpc
import httpx
from opentelemetry import trace

from postflow.core.bwlimit import describe_rate, parse_schedule
from postflow.core.config import ConfigError, split_address
from postflow.core.http import traced_client
from postflow.core.pipelines import require_roots
from postflow.core.rpc import Servicer, bind_address, open_channel
from postflow.core.service import GrpcService, Runtime
from postflow.v1 import streamer_pb2, streamer_pb2_grpc, watcher_pb2_grpc
from services.streamer.events import EventHub
from services.streamer.file_reader import ReaderPool
from services.streamer.frameio_hooks import FrameioHooks, HookLimits
from services.streamer.http_connection import HttpLimits
from services.streamer.metrics import StreamerMetrics
from services.streamer.pacer import Pacer
from services.streamer.progress import PullProgress
from services.streamer.publications import PublicationStore
from services.streamer.push import PushSettings
from services.streamer.range_http import RangeServer
from services.streamer.roots import Roots
from services.streamer.servicer import StreamerServicer
from services.streamer.tunnel import TunnelManager

log = logging.getLogger(__name__)

PUSH_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
PURGE_EVERY_S = 3600.0


def build_service(runtime: Runtime, *, grpc_address: str | None = None, http_address: str | None = None,
                  http_limits: HttpLimits | None = None, hook_limits: HookLimits | None = None,
                  clock: Callable[[], datetime] = datetime.now) -> StreamerService:
    """`clock`: the local time the bandwidth timetable is read at."""
    config = runtime.config
    return StreamerService(
        runtime, require_roots(config),
        grpc_address or bind_address(config.services.streamer),
        http_address or config.streamer.listen,
        http_limits,
        Pacer(parse_schedule(config.transfer.bwlimit), clock), hook_limits,
    )


class StreamerService(GrpcService):
    identity = "streamer"

    def __init__(self, runtime: Runtime, roots: Mapping[str, Path], grpc_address: str, http_address: str,
                 http_limits: HttpLimits | None = None, pacer: Pacer | None = None,
                 hook_limits: HookLimits | None = None) -> None:
        super().__init__(runtime, grpc_address)
        self.roots = Roots(roots)  # each pipeline's, by name; replaced by set_roots
        self.http_host, self.http_requested_port = split_address(http_address, "streamer.listen")
        self.http_limits = http_limits
        self.hook_limits = hook_limits
        self.watcher_channel: grpc.aio.Channel | None = None  # Frame.io's webhooks go on to the watcher
        self.pacer = pacer or Pacer()  # every byte leaving: pulls served and parts pushed
        self.http_port = 0
        self.hub = EventHub()
        self.progress = PullProgress(self.hub.transfer)
        self.publications: PublicationStore | None = None
        self.range_server: RangeServer | None = None
        self.http: httpx.AsyncClient | None = None
        self.tunnel: TunnelManager | None = None
        self.reader: ReaderPool | None = None  # every file read of pulls and pushes

    async def open(self) -> None:
        config = self.runtime.config
        database = config.state_path / "streamer" / "publications.sqlite"
        try:
            self.publications = PublicationStore(database, self.roots, config.streamer.ticket_ttl_s)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"state_dir: cannot open {database}: {exc}") from None
        provider = self.runtime.tracer_provider
        tracer = provider.get_tracer(__name__) if provider is not None else trace.get_tracer(__name__)
        self.reader = ReaderPool()
        self.watcher_channel = open_channel(config.services.watcher, provider, await self.credentials(), "watcher")
        hooks = FrameioHooks(watcher_pb2_grpc.WatcherServiceStub(self.watcher_channel), self.hook_limits)
        self.range_server = RangeServer(
            self.publications, self.progress, max_ranges=config.streamer.max_ranges,
            max_connections_per_publication=config.streamer.max_connections_per_publication,
            tracer=tracer, limits=self.http_limits, reader=self.reader, pacer=self.pacer, hooks=hooks,
        )
        self.http_port = await self.range_server.start(self.http_host, self.http_requested_port)
        log.info("range server on %s:%d", self.http_host, self.http_port)
        self.http = traced_client(self.runtime.tracer_provider, timeout=PUSH_TIMEOUT,
                                  limits=httpx.Limits(max_keepalive_connections=32))
        self.tunnel = TunnelManager(config.streamer.tunnel, local_host=self.http_host, local_port=self.http_port,
                                    on_status=lambda status: self.hub.tunnel(self.pacer.stamp(status)),
                                    http=self.http)
        self.metrics.registry.register(StreamerMetrics(self.tunnel, self.progress))

    def servicers(self) -> list[Servicer]:
        assert self.publications is not None and self.tunnel is not None and self.http is not None
        assert self.reader is not None
        config = self.runtime.config
        return [Servicer(streamer_pb2, streamer_pb2_grpc.add_StreamerServiceServicer_to_server, StreamerServicer(
            roots=self.roots, publications=self.publications, progress=self.progress, tunnel=self.tunnel,
            hub=self.hub, http=self.http, reader=self.reader, pacer=self.pacer,
            push_settings=PushSettings(config.transfer.part_concurrency, config.transfer.part_retries),
        ))]

    async def start_background(self) -> None:
        assert self.tunnel is not None
        await self.tunnel.start()
        self.spawn("purge-publications", self._purge_forever())
        self.spawn("bandwidth-timetable", self._announce_limits())

    def set_roots(self, roots: Mapping[str, Path]) -> None:
        """Serves files from these pipelines' roots from now on: publishing and pushing under a
        pipeline removed is refused, and its publications answer 410."""
        self.roots.replace(roots)

    async def reload(self) -> None:
        """SIGHUP: the pipelines' roots of the config as it is now; a config that is invalid,
        or names a root that is not a directory, is logged and the roots of before stay."""
        try:
            roots = await asyncio.to_thread(lambda: require_roots(self.runtime.read_config()))
        except ConfigError as exc:
            log.error("config not reloaded, still serving the pipelines of before: %s", exc)
            return
        self.set_roots(roots)
        log.info("config reloaded: serving pipelines %s", ", ".join(sorted(roots)))

    async def ready(self) -> None:
        """Ready as soon as the tunnel is started, before it is up: until then Publish answers
        UNAVAILABLE ("tunnel not up yet") and the tunnel's state is in GetTunnelStatus and
        WatchEvents, while pushes and Range requests already work."""

    async def _purge_forever(self) -> None:
        """A streamer that runs for months keeps neither rows nor memory for old publications."""
        assert self.publications is not None
        while True:
            await asyncio.sleep(PURGE_EVERY_S)
            if purged := self.publications.purge():
                self.progress.forget(purged)
                log.info("forgot %d publications that ended more than a week ago", len(purged))

    async def _announce_limits(self) -> None:
        """Tells status readers the new bandwidth limit at each boundary of the timetable."""
        assert self.tunnel is not None
        log.info("bandwidth limit %s (transfer.bwlimit %r)", describe_rate(self.pacer.rate()),
                 self.pacer.schedule.text)
        while (change := self.pacer.schedule.next_change(now := self.pacer.clock())) is not None:
            await asyncio.sleep((change - now).total_seconds())
            log.info("bandwidth limit now %s", describe_rate(self.pacer.rate()))
            self.hub.tunnel(self.pacer.stamp(self.tunnel.status))

    def end_streams(self) -> None:
        self.hub.close()

    async def close(self) -> None:
        if self.tunnel is not None:
            await self.tunnel.stop()
        if self.http is not None:
            await self.http.aclose()
        if self.range_server is not None:
            await self.range_server.stop()
        if self.watcher_channel is not None:
            await self.watcher_channel.close()
        if self.reader is not None:
            self.reader.close()
        if self.publications is not None:
            self.publications.close()
