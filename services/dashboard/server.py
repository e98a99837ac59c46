"""The dashboard service: the hub following the three gRPC services, and the HTTP app served
by uvicorn in this process (no gRPC server of its own; `/livez` and `/readyz` are its probes)."""

from __future__ import annotations

import logging
import socket

import httpx
import uvicorn
from prometheus_client import Gauge

from postflow.core import net
from postflow.core.asgi import AppServer, tls_options
from postflow.core.clients import Clients
from postflow.core.config import ConfigError, split_address
from postflow.core.mesh.audit import AuditLog, audit_path
from postflow.core.mesh.certs import CertPaths
from postflow.core.metrics import Metrics
from postflow.core.service import Lifecycle, Runtime
from services.dashboard.access import Access
from services.dashboard.app import build_app
from services.dashboard.fanout import QUEUE_SIZE, Broadcaster
from services.dashboard.hub import Hub
from services.dashboard.oidc_routes import OidcSignIn
from services.dashboard.oidc_sessions import SessionStore
from services.dashboard.tls import ServedTls, served_tls

log = logging.getLogger(__name__)

GRACE_S = 3


def build_service(runtime: Runtime, *, http_address: str | None = None, **tuning) -> DashboardService:
    """The dashboard on `http_address` (tests: "127.0.0.1:0") or `dashboard.listen`. Off
    loopback it refuses to run without `dashboard.access_token` or `dashboard.oidc`."""
    config = runtime.config
    address = http_address or config.dashboard.listen
    host, _ = split_address(address, "dashboard.listen")
    if not net.is_loopback(host) and not config.dashboard.access_token and config.dashboard.oidc is None:
        raise ConfigError(f"dashboard.access_token: required when the dashboard listens on a non-loopback "
                          f"address ({address}) without dashboard.oidc; set one, or listen on 127.0.0.1")
    return DashboardService(runtime, address, Access(config.dashboard.access_token), **tuning)


class DashboardService(Lifecycle):
    def __init__(self, runtime: Runtime, address: str, access: Access, *, ping_s: float = 15.0,
                 send_timeout_s: float = 30.0, queue_size: int = QUEUE_SIZE, progress_interval: float = 0.25) -> None:
        super().__init__(Metrics.of(runtime.config, "dashboard"))
        self.runtime = runtime
        self.address = address
        self.access = access
        self.http_port = 0
        self.clients: Clients | None = None
        self.hub: Hub | None = None
        self._ping_s = ping_s
        self._send_timeout_s = send_timeout_s
        self._queue_size = queue_size
        self._progress_interval = progress_interval
        self._socket: socket.socket | None = None
        self._server: AppServer | None = None
        self.tls: ServedTls | None = None
        self._oidc_http: httpx.AsyncClient | None = None
        self._audit: AuditLog | None = None

    @property
    def url(self) -> str:
        """The dashboard's base URL seen from this machine (once open): https when it serves TLS."""
        host, _ = split_address(self.address, "dashboard.listen")
        return net.http_url(host, self.http_port, tls=self.tls is not None)

    async def open(self) -> None:
        config = self.runtime.config
        self.tls = await served_tls(config, self.address)
        if config.dashboard.oidc is not None:
            sessions = SessionStore(config.state_path / "dashboard" / "sessions.sqlite",
                                    config.dashboard.oidc.session_ttl_s)
            self._audit = AuditLog(audit_path(config.state_path, "dashboard"), mask=self.runtime.mask)
            self._oidc_http = httpx.AsyncClient()
            await sessions.open()
            self.access.signin = OidcSignIn(config.dashboard.oidc, sessions, self._audit, self._oidc_http)
        self._socket = net.listen(*split_address(self.address, "dashboard.listen"))
        self.http_port = self._socket.getsockname()[1]
        self.clients = await Clients(config, self.runtime.tracer_provider, identity="dashboard").open()
        self.hub = Hub(self.clients, Broadcaster(queue_size=self._queue_size),
                       progress_interval=self._progress_interval,
                       certs=CertPaths(config.certs_path) if config.mesh.mtls else None)
        fanout = self.hub.fanout
        Gauge("postflow_dashboard_sse_clients", "Browsers following the dashboard live (SSE streams open)",
              registry=self.metrics.registry).set_function(lambda: fanout.clients)
        app = build_app(config, self.clients, self.hub, self.access, tracer_provider=self.runtime.tracer_provider,
                        ping_s=self._ping_s, send_timeout_s=self._send_timeout_s)
        http = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ws="none", server_header=False,
                              timeout_graceful_shutdown=GRACE_S, proxy_headers=True,
                              forwarded_allow_ips=list(config.dashboard.trusted_proxies),
                              **tls_options(self.tls.context if self.tls else None))
        self._server = AppServer(http, self._socket, f"the dashboard's HTTP server on {self.address}")

    async def listen(self) -> None:
        assert self._server is not None
        self._server.start()

    async def start_background(self) -> None:
        assert self.hub is not None
        await self.hub.start()

    async def ready(self) -> None:
        """Ready once uvicorn accepts connections: the page, `/livez`, the API and `/events`
        answer from then on, whatever the other services do (the hub follows them and
        reconnects). `/readyz` answers 200 only while auth, watcher and streamer are all
        SERVING, asked at each request."""
        assert self._server is not None
        await self._server.started()

    async def announce_ready(self) -> None:
        log.info("dashboard at %s/ (listening on %s)%s%s", self.url, self.address,
                 "" if self.access.required else ", open to loopback clients",
                 f"; self-signed certificate {self.tls.cert}: trust it in the browser, or accept the "
                 "browser's warning once" if self.tls and self.tls.self_signed else "")

    async def drain(self) -> None:
        """Ends the SSE streams first, so that uvicorn's graceful shutdown need not wait for them."""
        if self.hub is not None:
            self.hub.fanout.close()
        if self._server is not None:
            await self._server.stop()

    async def close(self) -> None:
        if self._oidc_http is not None:
            await self._oidc_http.aclose()
        if self._audit is not None:
            await self._audit.close()
        if self.access.signin is not None:
            await self.access.signin.sessions.close()
        if self.hub is not None:
            await self.hub.stop()
        if self.clients is not None:
            await self.clients.close()
        if self._socket is not None:
            self._socket.close()
