"""The watcher service: detection, the job ledger, orchestration, and the job API."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
import httpx
from opentelemetry import trace

from postflow.core.config import Config, ConfigError, WatchConfig
from postflow.core.errors import InvalidArgument
from postflow.core.http import traced_client
from postflow.core.mesh.api_keys import ApiKeys
from postflow.core.mesh.certs import Credentials
from postflow.core.outbound_config import dashboard_base, outbound_secrets
from postflow.core.pipelines import PipelineConfig, pipelines_of
from postflow.core.rpc import GrpcServer, Servicer, bind_address, open_channel
from postflow.core.service import GrpcService, Runtime
from postflow.frameio_metrics import FrameioMeter
from postflow.v1 import auth_pb2_grpc, streamer_pb2, streamer_pb2_grpc, watcher_pb2, watcher_pb2_grpc
from services.watcher.after_delivery import AfterDelivery
from services.watcher.connections import FrameioConnections
from services.watcher.delivery import Delivery, DeliverySettings
from services.watcher.delivery.nudges import FileNudges
from services.watcher.detector import Detector
from services.watcher.followers import AuthWatch, StreamerWatch
from services.watcher.intake import JobIntake
from services.watcher.ledger import Ledger
from services.watcher.metrics import AttemptMetrics, LedgerMetrics
from services.watcher.orchestrator import Orchestrator
from services.watcher.outbound.alerts import Alerts
from services.watcher.outbound.dispatcher import Outbound
from services.watcher.outbound.outbox import Outbox
from services.watcher.outbound.targets import targets_of
from services.watcher.pipelines import Changes, Pipelines
from services.watcher.projects import check_named_projects
from services.watcher.review.loop import ReviewLoop
from services.watcher.review.metrics import ReviewMetrics
from services.watcher.routing import PipelineRoutes, Router
from services.watcher.scanner import Scanner
from services.watcher.servicer import WatcherServicer
from services.watcher.sightings import Sightings
from services.watcher.submissions import Submissions

log = logging.getLogger(__name__)


def build_service(runtime: Runtime, *, grpc_address: str | None = None) -> WatcherService:
    config = runtime.config
    routes = Pipelines.routes_of(config)
    return WatcherService(runtime, routes, grpc_address or bind_address(config.services.watcher))


class WatcherService(GrpcService):
    identity = "watcher"

    def __init__(self, runtime: Runtime, routes: dict[str, PipelineRoutes], grpc_address: str) -> None:
        super().__init__(runtime, grpc_address)
        self.config = runtime.config
        self.routes = routes
        self.ledger = Ledger(self.config.state_path / "watcher" / "ledger.sqlite")
        self.api_keys = ApiKeys(self.config.state_path / "watcher" / "api_keys.sqlite")
        self.outbox = Outbox(self.config.state_path / "watcher" / "outbox.sqlite")
        self.outbound = Outbound(self.outbox, self.ledger, self.config.outbound, dashboard_base(self.config))
        self.alerts = Alerts(self.outbound, self.ledger, self.config)
        self.api_credentials: Credentials | None = None  # the watcher's certificate, for the API port
        self.api_port = 0
        self._channels: list[grpc.aio.Channel] = []
        self._http: httpx.AsyncClient | None = None
        self._webhook_http: httpx.AsyncClient | None = None  # each webhook has its own timeout
        self.orchestrator: Orchestrator | None = None
        self.after_delivery: AfterDelivery | None = None
        self.pipelines: Pipelines | None = None
        self.streamer_events: StreamerWatch | None = None
        self.auth_status: AuthWatch | None = None
        self.intake: JobIntake | None = None
        self.sightings = Sightings(self.ledger)
        self.connections: FrameioConnections | None = None
        self.submissions: Submissions | None = None
        # Frame.io's webhooks end a verification wait early (file.ready, file.upload.completed) through `nudges`
        self.nudges = FileNudges()
        self.review = ReviewLoop(self.config, self.ledger, self.outbound, self.nudges, runtime.add_secret,
                                 ReviewMetrics(self.metrics.registry))

    async def open(self) -> None:
        config, provider = self.config, self.runtime.tracer_provider
        await self.ledger.open()
        await self.api_keys.open()
        await self.outbox.open()
        await self.outbound.open()
        # Not traced: a span would record the webhook's URL (a secret), and a trace id is not the receiver's business.
        self._webhook_http = httpx.AsyncClient(timeout=httpx.Timeout(None))
        await self._apply_outbound(config)
        self.authenticator = self.api_keys
        credentials = await self.credentials()
        self.api_credentials = credentials if config.mesh.api_listen else None
        auth_channel = open_channel(config.services.auth, provider, credentials, "auth")
        streamer_channel = open_channel(config.services.streamer, provider, credentials, "streamer")
        self._channels = [auth_channel, streamer_channel]
        self._http = traced_client(provider, timeout=config.frameio.request_timeout_s)
        auth_stub = auth_pb2_grpc.AuthServiceStub(auth_channel)
        streamer_stub = streamer_pb2_grpc.StreamerServiceStub(streamer_channel)
        ledger_metrics = LedgerMetrics(self.ledger)
        self.metrics.registry.register(ledger_metrics)
        self.metrics.before_scrape(ledger_metrics.refresh)
        self.connections = connections = FrameioConnections(auth_stub, self._http, self.ledger, self.runtime.secrets,
                                                            FrameioMeter(self.metrics.registry))
        connections.apply(config)
        self.streamer_events = streamer_events = StreamerWatch(streamer_stub, on_tunnel=self._tunnel_status)
        self.pipelines = pipelines = Pipelines(self._detector)
        await self.review.open(connections, pipelines, self._pipelines_now, self._tunnel_url)
        self.metrics.before_scrape(self.review.reviews.refresh_followed_metric)
        delivery = Delivery(routes_of=lambda name: pipelines.get(name).routes, ledger=self.ledger,
                            connections=connections, streamer=streamer_stub, streamer_events=streamer_events,
                            settings=DeliverySettings.from_config(config), nudges=self.nudges)
        tracer = trace.get_tracer("postflow.watcher", tracer_provider=provider)
        self.auth_status = AuthWatch(auth_stub, on_change=connections.status_changed,
                                     on_status=self.alerts.auth_status)
        self.after_delivery = after_delivery = AfterDelivery(self.ledger, pipelines)

        def delivered() -> None:
            after_delivery.wake()
            self.review.delivered()
        self.orchestrator = Orchestrator(
            ledger=self.ledger, delivery=delivery, auth=self.auth_status, settings=config.watch, pipelines=pipelines,
            tracer=tracer, on_delivered=delivered, metrics=AttemptMetrics(self.metrics.registry),
            server_error_wait_s=config.frameio.server_error_backoff_s)
        self.intake = JobIntake(config, self.ledger, self.sightings, self.orchestrator, tracer)
        self.submissions = Submissions(pipelines, self.intake)

    def _pipelines_now(self) -> tuple[PipelineConfig, ...]:
        return pipelines_of(self.intake.config if self.intake is not None else self.config)

    async def _tunnel_url(self) -> str:
        assert self.streamer_events is not None
        status = await self.streamer_events.tunnel_status(fresh=True)
        return status.public_url if status is not None else ""

    def _tunnel_status(self, status: streamer_pb2.TunnelStatus) -> None:
        self.alerts.tunnel_status(status)
        self.review.tunnel_status(status)

    def _detector(self, routes: PipelineRoutes, settings: WatchConfig) -> Detector:
        assert self.orchestrator is not None and self.intake is not None
        return Detector(settings, Scanner(routes.root, routes.path_filter), self.orchestrator, self.intake, routes)

    def servicers(self) -> list[Servicer]:
        assert self.orchestrator is not None and self.pipelines is not None and self.submissions is not None
        assert self.intake is not None
        return [Servicer(watcher_pb2, watcher_pb2_grpc.add_WatcherServiceServicer_to_server, WatcherServicer(
            self.ledger, self.orchestrator, self.submissions, self.pipelines, self.api_keys, self.intake,
            self.sightings, self.apply_config, self.outbound, self.review.webhooks, self.review.reviews))]

    async def reload(self) -> None:
        """SIGHUP: the pipelines of the config file as it is now (an invalid one is logged and
        the running pipelines stay)."""
        try:
            await self.apply_config()
        except InvalidArgument as exc:
            log.error("config not reloaded, the pipelines of before keep running: %s", exc)

    async def apply_config(self) -> Changes:
        """Reads the config file again and applies its pipelines; InvalidArgument naming the key
        when it is not valid (nothing changes then)."""
        assert self.pipelines is not None and self.intake is not None and self.orchestrator is not None
        assert self.connections is not None
        try:
            config = await asyncio.to_thread(self.runtime.read_config)
            routes = await asyncio.to_thread(Pipelines.routes_of, config)
        except ConfigError as exc:
            raise InvalidArgument(f"config: {exc}") from None
        self.intake.config = config
        self.connections.apply(config)
        await self._apply_outbound(config)
        changes = self.pipelines.apply_routes(config, routes)
        log.info("config reloaded: pipelines added %s, removed %s, changed %s", changes.added or "none",
                 changes.removed or "none", changes.changed or "none")
        self.orchestrator.wake()
        return changes

    async def _apply_outbound(self, config: Config) -> None:
        """The config's webhooks and notification rules (their secrets masked in logs from now on)."""
        assert self._webhook_http is not None
        for secret in outbound_secrets(config):
            self.runtime.add_secret(secret)
        targets = await asyncio.to_thread(targets_of, config, self._webhook_http, self.runtime.mask)
        self.outbound.apply(targets, config.outbound, dashboard_base(config))
        self.alerts.config = config
        self.review.apply(config)

    def add_ports(self, server: GrpcServer) -> None:
        """The job API for other tools (mesh.api_listen): TLS with the watcher's certificate,
        callers authenticated by API key rather than by certificate."""
        if self.api_credentials is not None:
            self.api_port = server.add_tls_port(bind_address(self.config.mesh.api_listen), self.api_credentials)
            log.info("job API for other tools (TLS, API keys) on port %d", self.api_port)

    async def start_background(self) -> None:
        assert self.orchestrator is not None and self.pipelines is not None and self.after_delivery is not None
        assert self.streamer_events is not None and self.auth_status is not None
        self.pipelines.apply_routes(self.config, self.routes)
        self.spawn("orchestrator", self.orchestrator.run())
        self.spawn("after-delivery", self.after_delivery.run())
        self.spawn("streamer-events", self.streamer_events.run())
        self.spawn("auth-status", self.auth_status.run())
        connections, auth = self.connections, self.auth_status
        assert connections is not None
        self.spawn("project-check", check_named_projects(
            Router(self.config).named_projects(), lambda name: connections.get(name).projects, auth.wait_connected))
        self.spawn("outbound", self.outbound.run())
        self.spawn("alerts", self.alerts.run())
        for name, task in self.review.tasks().items():
            self.spawn(name, task)

    async def ready(self) -> None:
        """Ready after the first scan of every pipeline's root: from then on their files are
        known, so the job API answers about the folders as they are."""
        assert self.pipelines is not None
        await self.pipelines.first_scans()

    def end_streams(self) -> None:
        self.ledger.live_events.close()

    async def close(self) -> None:
        if self.pipelines is not None:
            await self.pipelines.stop()
        if self.orchestrator is not None:
            await self.orchestrator.stop()
        for channel in self._channels:
            with contextlib.suppress(Exception):
                await channel.close()
        for client in (self._http, self._webhook_http):
            if client is not None:
                await client.aclose()
        await self.outbox.close()
        await self.review.close()
        await self.api_keys.close()
        await self.ledger.close()
