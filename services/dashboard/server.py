"""The dashboard service: the hub following the three gRPC services, and the HTTP app served
by uvicorn in this process (no gRPC server of its own; `/livez` and `/readyz` are its probes)."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from postflow.core.clients import Clients
from postflow.core.config import ConfigError, split_address
from postflow.core.service import Runtime
from services.dashboard.access import Access, is_loopback
from services.dashboard.app import build_app
from services.dashboard.fanout import QUEUE_SIZE, Broadcaster
from services.dashboard.hub import Hub

log = logging.getLogger(__name__)

GRACE_S = 3.0


def listen_socket(address: str) -> socket.socket:
    host, port = split_address(address, "dashboard.listen")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024)


class DashboardService:
    def __init__(self, runtime: Runtime, address: str, access: Access, *, ping_s: float = 15.0,
                 send_timeout_s: float = 30.0, queue_size: int = QUEUE_SIZE, progress_interval: float = 0.25) -> None:
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
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task | None = None

    async def start(self) -> None:
        config = self.runtime.config
        self._socket = listen_socket(self.address)
        self.http_port = self._socket.getsockname()[1]
        self.clients = Clients(config, self.runtime.tracer_provider)
        self.hub = Hub(self.clients, Broadcaster(queue_size=self._queue_size),
                       progress_interval=self._progress_interval)
        await self.hub.start()
        app = build_app(config, self.clients, self.hub, self.access, tracer_provider=self.runtime.tracer_provider,
                        ping_s=self._ping_s, send_timeout_s=self._send_timeout_s)
        server_config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ws="none",
                                       server_header=False, timeout_graceful_shutdown=GRACE_S, proxy_headers=True,
                                       forwarded_allow_ips=list(config.dashboard.trusted_proxies))
        server_config.load()
        self._server = uvicorn.Server(server_config)
        # uvicorn's serve() would take over SIGTERM/SIGINT; run_service owns them.
        self._server.lifespan = server_config.lifespan_class(server_config)
        await self._server.startup(sockets=[self._socket])
        self._serving = asyncio.create_task(self._server.main_loop(), name="dashboard-http")
        log.info("dashboard listening on %s (port %d)%s", self.address, self.http_port,
                 "" if self.access.required else ", open to loopback clients")

    async def stop(self) -> None:
        """Ends the SSE streams (so uvicorn can drain), stops HTTP, the hub, the channels.
        Safe to call twice, and after a start that failed half-way."""
        hub, clients, self.hub, self.clients = self.hub, self.clients, None, None
        if hub is not None:
            hub.fanout.close()
        if self._serving is not None:
            self._server.should_exit = True
            await self._serving
            await self._server.shutdown(sockets=[self._socket])
            self._serving = None
        elif self._socket is not None:
            self._socket.close()
        if hub is not None:
            await hub.stop()
        if clients is not None:
            await clients.__aexit__(None, None, None)


def build_service(runtime: Runtime, *, http_address: str | None = None, **tuning) -> DashboardService:
    """The dashboard on `http_address` (tests: "127.0.0.1:0") or `dashboard.listen`. Off
    loopback it refuses to run without `dashboard.access_token`."""
    config = runtime.config
    address = http_address or config.dashboard.listen
    host, _ = split_address(address, "dashboard.listen")
    if not is_loopback(host) and not config.dashboard.access_token:
        raise ConfigError(f"dashboard.access_token: required when the dashboard listens on a non-loopback "
                          f"address ({address}); set it, or listen on 127.0.0.1")
    return DashboardService(runtime, address, Access(config.dashboard.access_token), **tuning)
