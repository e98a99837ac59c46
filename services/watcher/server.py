"""The watcher service: detection, the job ledger, orchestration, and the job API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import grpc
import httpx
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from postflow.core.config import ConfigError, require_watch_root
from postflow.core.rpc import GrpcServer, bind_address, open_channel
from postflow.core.service import Runtime
from postflow.frameio import AuthTokens, FrameioClient
from postflow.v1 import auth_pb2_grpc, streamer_pb2_grpc, watcher_pb2_grpc
from services.watcher.delivery import Delivery, DeliverySettings
from services.watcher.detector import Detector
from services.watcher.folders import FolderMirror
from services.watcher.followers import AuthWatch, StreamerWatch
from services.watcher.intake import JobIntake, Submissions
from services.watcher.ledger import Ledger
from services.watcher.orchestrator import Orchestrator
from services.watcher.scanner import PathFilter, Scanner
from services.watcher.servicer import WatcherServicer

log = logging.getLogger(__name__)

SERVICE_NAME = "postflow.v1.WatcherService"


def build_service(runtime: Runtime, *, grpc_address: str | None = None) -> WatcherService:
    config = runtime.config
    root = require_watch_root(config)
    try:
        path_filter = PathFilter(config.watch.include, config.watch.exclude)
    except Exception as exc:  # a glob that does not compile
        raise ConfigError(f"watch.include/exclude: {exc}") from None
    return WatcherService(runtime, root, path_filter, grpc_address or bind_address(config.services.watcher))


class WatcherService:
    def __init__(self, runtime: Runtime, root: Path, path_filter: PathFilter, address: str) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self.root = root
        self.path_filter = path_filter
        self.address = address
        self.ledger = Ledger(self.config.state_path / "watcher" / "ledger.sqlite")
        self.server: GrpcServer | None = None  # made in start(): grpc.aio binds to the running loop
        self.grpc_port = 0
        self._tasks: list[asyncio.Task] = []
        self._channels: list[grpc.aio.Channel] = []
        self._http: httpx.AsyncClient | None = None
        self.orchestrator: Orchestrator | None = None
        self.detector: Detector | None = None

    async def start(self) -> None:
        config, provider = self.config, self.runtime.tracer_provider
        await self.ledger.open()
        auth_channel = open_channel(config.services.auth, provider)
        streamer_channel = open_channel(config.services.streamer, provider)
        self._channels = [auth_channel, streamer_channel]
        self._http = httpx.AsyncClient(timeout=config.frameio.request_timeout_s)
        HTTPXClientInstrumentor.instrument_client(self._http, tracer_provider=provider)
        auth_stub = auth_pb2_grpc.AuthServiceStub(auth_channel)
        streamer_stub = streamer_pb2_grpc.StreamerServiceStub(streamer_channel)
        frameio = FrameioClient(config.frameio, AuthTokens(auth_stub, self.runtime.secrets), self._http)
        streamer_events = StreamerWatch(streamer_stub)
        delivery = Delivery(root=self.root, ledger=self.ledger, frameio=frameio,
                            folders=FolderMirror(frameio, self.ledger), streamer=streamer_stub,
                            streamer_events=streamer_events, settings=DeliverySettings.from_config(config))
        tracer = trace.get_tracer("postflow.watcher", tracer_provider=provider)
        auth_status = AuthWatch(auth_stub)
        self.orchestrator = orchestrator = Orchestrator(
            ledger=self.ledger, delivery=delivery, auth=auth_status, settings=config.watch, root=self.root,
            path_filter=self.path_filter, tracer=tracer)
        intake = JobIntake(config, self.ledger, orchestrator, tracer)
        self.detector = Detector(config.watch, Scanner(self.root, self.path_filter), orchestrator, intake)
        servicer = WatcherServicer(self.ledger, orchestrator, Submissions(self.root, intake), self.detector,
                                   str(self.root))
        self.server = GrpcServer(provider)
        self.server.add(watcher_pb2_grpc.add_WatcherServiceServicer_to_server, servicer, SERVICE_NAME)
        self.grpc_port = await self.server.start(self.address)
        for name, work in (("detector", self.detector.run()), ("orchestrator", orchestrator.run()),
                           ("streamer-events", streamer_events.run()), ("auth-status", auth_status.run()),
                           ("health", self._serve_when_scanning())):
            self._tasks.append(asyncio.create_task(work, name=name))
        log.info("watching %s", self.root)

    async def _serve_when_scanning(self) -> None:
        assert self.detector is not None and self.server is not None
        await self.detector.first_scan.wait()
        await self.server.set_serving(True)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.set_serving(False)
            await self.server.stop()
        for task in self._tasks:
            task.cancel()
        if self.orchestrator is not None:
            await self.orchestrator.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for channel in self._channels:
            with contextlib.suppress(Exception):
                await channel.close()
        if self._http is not None:
            await self._http.aclose()
        await self.ledger.close()
