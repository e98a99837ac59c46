"""Prometheus metrics of one service process, served at `/metrics` in the text exposition format.

Each service process has its own registry (`Metrics.registry`), handed to the parts that count
something; nothing is registered globally, so several services can share a test process.
`metrics.<service>` (HOST:PORT, "" = off) is where the service serves it: a small HTTP/1.1
server on the service's own event loop, one request per connection, `GET` or `HEAD /metrics`.
Values kept elsewhere (the watcher's ledger) are read at scrape time: a coroutine given to
`before_scrape` runs before each scrape, then the registry is rendered on the loop, so
collectors read the service's state where it lives, without locks.

Every service also reports `postflow_event_loop_lag_seconds`: the worst lag over the last
`lag_window_s` (15 s), measured every `lag_interval_s` as how late the loop woke a timer, i.e.
how long a callback held the loop up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import choose_encoder

from postflow.core import net
from postflow.core.config import Config, split_address

log = logging.getLogger(__name__)

PATH = "/metrics"
LAG_INTERVAL_S = 0.5
LAG_WINDOW_S = 15.0
READ_TIMEOUT_S = 10.0
REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request",
           500: "Internal Server Error"}


class Metrics:
    """One service process's registry and its `/metrics` endpoint on `address` ("" = off:
    `start` opens no port)."""

    def __init__(self, address: str = "", *, key: str = "metrics", lag_interval_s: float = LAG_INTERVAL_S,
                 lag_window_s: float = LAG_WINDOW_S) -> None:
        self.registry = CollectorRegistry()
        self.address = address
        self.key = key  # the config key the address came from, for errors
        self.port = 0  # once started
        self.lag_interval_s = lag_interval_s
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        self._server: asyncio.Server | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self._lags: deque[float] = deque(maxlen=max(1, round(lag_window_s / lag_interval_s)))
        Gauge("postflow_event_loop_lag_seconds", f"The worst event-loop lag (a timer run late) over the last "
              f"{lag_window_s:g} s", registry=self.registry).set_function(lambda: max(self._lags, default=0.0))

    @classmethod
    def of(cls, config: Config, service: str) -> Metrics:
        """The metrics of `service` on `metrics.<service>` (auth, watcher, streamer or dashboard; off for another)."""
        return cls(getattr(config.metrics, service, ""), key=f"metrics.{service}")

    def before_scrape(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """`refresh()` runs before each scrape, e.g. to read values a collector then reports."""
        self._refreshers.append(refresh)

    async def start(self) -> None:
        """Serves `/metrics` on the address (OSError when it cannot listen there)."""
        if not self.address or self._server is not None:
            return
        host, port = split_address(self.address, self.key)
        sock = net.listen(host, port, backlog=64)
        try:
            self._server = await asyncio.start_server(self._answer, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._lag_task = asyncio.create_task(self._measure_lag(), name="event-loop-lag")
        log.info("metrics at %s%s", net.http_url(host, self.port), PATH)

    async def stop(self) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
            await asyncio.gather(self._lag_task, return_exceptions=True)
            self._lag_task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def render(self, accept: str = "") -> tuple[bytes, str]:
        """The registry as the scraper asked for it (`accept`: its Accept header), and the content type."""
        for refresh in self._refreshers:
            await refresh()
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    async def _measure_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.lag_interval_s)
            self._lags.append(max(0.0, loop.time() - asked - self.lag_interval_s))

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            status, headers, body = await self._respond(head.decode("latin-1"))
            lines = [f"HTTP/1.1 {status} {REASONS[status]}", *(f"{k}: {v}" for k, v in headers.items()),
                     f"Content-Length: {len(body)}", "Connection: close", "", ""]
            writer.write("\r\n".join(lines).encode("latin-1"))
            if not head.startswith(b"HEAD "):
                writer.write(body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass  # a scraper that hung up or sent no request: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, head: str) -> tuple[int, dict[str, str], bytes]:
        request_line, *header_lines = head.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, {"Content-Type": "text/plain"}, b"bad request\n"
        method, target, _ = parts
        if target.split("?", 1)[0] != PATH:
            return 404, {"Content-Type": "text/plain"}, f"not found: metrics are at {PATH}\n".encode()
        if method not in ("GET", "HEAD"):
            return 405, {"Content-Type": "text/plain", "Allow": "GET, HEAD"}, b"method not allowed\n"
        fields = (line.partition(":") for line in header_lines if line)
        accept = next((value.strip() for name, _, value in fields if name.strip().lower() == "accept"), "")
        try:
            body, content_type = await self.render(accept)
        except Exception:  # one bad read (the ledger busy) fails this scrape, not the service
            log.exception("could not collect the metrics")
            return 500, {"Content-Type": "text/plain"}, b"could not collect the metrics; see the service's log\n"
        return 200, {"Content-Type": content_type}, body
