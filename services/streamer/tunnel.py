"""The tunnel in front of the Range server, and the public base URL it gives.

Modes (config `streamer.tunnel`):
- `quick`: spawn `cloudflared tunnel --no-autoupdate --metrics ADDR --url http://127.0.0.1:PORT`;
  the random URL comes from its output (the box after "Your quick Tunnel has been
  created!") and from `GET /quicktunnel` on its metrics port; a new URL at every restart.
- `named`: spawn `cloudflared tunnel --no-autoupdate --metrics ADDR run` with the token in
  the environment (TUNNEL_TOKEN, never in argv); URL = `public_base_url`.
- `none`: no process; URL = `public_base_url`, else the Range server's own address.
With `cloudflared: ""` cloudflared runs on its own (compose): nothing is spawned, a quick
tunnel's URL and readiness are read from its metrics address.

A spawned cloudflared is a supervised process: its stdout and stderr are drained for as
long as it runs (a full pipe would freeze it), it is restarted with exponential backoff
when it dies, and stopped with SIGTERM, then SIGKILL. Every change of state or URL is
announced through `on_status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
from collections.abc import Callable

import httpx

from postflow.core.backoff import Backoff
from postflow.core.config import TunnelConfig, split_address
from postflow.core.net import http_url, pick_port, reachable_host
from postflow.core.process import CannotStart, Command, Exit, SupervisedProcess
from postflow.core.protos import label, timestamp
from postflow.v1 import streamer_pb2

log = logging.getLogger(__name__)

QUICK_URL = re.compile(r"https://(?!api\.)[a-z0-9-]+\.trycloudflare\.com")
CONNECTED_LINE = "Registered tunnel connection"
MODES = {"quick": streamer_pb2.TUNNEL_MODE_QUICK, "named": streamer_pb2.TUNNEL_MODE_NAMED,
         "none": streamer_pb2.TUNNEL_MODE_NONE}
STABLE_RUN_S = 60.0  # a run this long resets the restart backoff
MAX_LINE = 4096  # longer output lines are cut before matching
PROBE_TIMEOUT_S = 2.0


class TunnelManager:
    def __init__(self, config: TunnelConfig, *, local_host: str, local_port: int,
                 on_status: Callable[[streamer_pb2.TunnelStatus], None], http: httpx.AsyncClient,
                 poll_s: float = 1.0, backoff_base_s: float = 1.0, stop_timeout_s: float = 5.0) -> None:
        self.config = config
        self.local_host = reachable_host(local_host)
        self.local_port = local_port
        self.on_status = on_status
        self.http = http
        self.poll_s = poll_s
        self.backoff_base_s = backoff_base_s
        self.stop_timeout_s = stop_timeout_s
        self.status = streamer_pb2.TunnelStatus(mode=MODES[config.mode], state=streamer_pb2.TUNNEL_STATE_STARTING)
        self.cloudflared: SupervisedProcess | None = None
        self._metrics = config.metrics  # the address of the current run's metrics endpoint
        self._metrics_watch: asyncio.Task | None = None
        self._line_ready = False  # cloudflared said it registered a connection
        self._metrics_ready: bool | None = None  # None until the metrics endpoint answers
        self._reported = {"line": "", "metrics": ""}
        self._url = ""

    @property
    def public_url(self) -> str:
        return self.status.public_url

    @property
    def process(self) -> asyncio.subprocess.Process | None:
        """The spawned cloudflared (the current or last one), if any."""
        return self.cloudflared.process if self.cloudflared is not None else None

    @property
    def spawns(self) -> bool:
        return self.config.mode != "none" and bool(self.config.cloudflared)

    async def start(self) -> None:
        if self.config.mode == "none":
            base = self.config.public_base_url or http_url(self.local_host, self.local_port)
            self._set(streamer_pb2.TUNNEL_STATE_UP, base, "no tunnel; serving at the configured address")
        elif not self.spawns and self.config.mode == "named":
            self._set(streamer_pb2.TUNNEL_STATE_UP, self.config.public_base_url or "",
                      "named tunnel run outside PostFlow")
        elif not self.spawns:
            self._set(streamer_pb2.TUNNEL_STATE_STARTING, "", f"waiting for cloudflared at {self.config.metrics}")
            self._metrics_watch = asyncio.create_task(self._watch_metrics(self.config.metrics, spawned=False))
        else:
            self.cloudflared = SupervisedProcess(
                "cloudflared", self._command, on_line=self._on_line, on_spawn=self._on_spawn, on_exit=self._on_exit,
                backoff=Backoff(self.backoff_base_s, self.config.restart_backoff_max_s, jitter=0,
                                reset_after_s=STABLE_RUN_S),
                stop_grace_s=self.stop_timeout_s, max_line=MAX_LINE,
            )
            self.cloudflared.start()

    async def stop(self) -> None:
        if self.cloudflared is not None:
            await self.cloudflared.stop()
        await self._stop_metrics_watch()
        self._set(streamer_pb2.TUNNEL_STATE_STOPPED, "", "stopped")

    # --- the spawned process ---
    def _command(self) -> Command:
        """Each run gets its own metrics address (a fixed one, or a free port picked now)."""
        self._reset_observations()
        self._set(streamer_pb2.TUNNEL_STATE_STARTING, "", "starting cloudflared")
        binary = shutil.which(self.config.cloudflared)
        if binary is None:
            raise CannotStart(f"cannot start {self.config.cloudflared}: not found, or not executable")
        host, port = split_address(self.config.metrics, "streamer.tunnel.metrics")
        self._metrics = f"{host}:{port or pick_port(host)}"
        argv = [binary, "tunnel", "--no-autoupdate", "--metrics", self._metrics]
        if self.config.mode == "quick":
            argv += ["--url", http_url(self.local_host, self.local_port)]
        else:
            argv.append("run")
        return Command(argv, self._env())

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "TUNNEL_TOKEN"}
        if self.config.mode == "named" and self.config.token:
            env["TUNNEL_TOKEN"] = self.config.token
        return env

    def _on_spawn(self, pid: int) -> None:
        self._metrics_watch = asyncio.create_task(self._watch_metrics(self._metrics, spawned=True))

    def _on_exit(self, exit: Exit) -> None:
        if self._metrics_watch is not None:
            self._metrics_watch.cancel()
        if exit.restart_in_s is not None:
            self._set(streamer_pb2.TUNNEL_STATE_DOWN, "",
                      f"cloudflared exited ({exit.reason}); restarting in {exit.restart_in_s:.1f}s")

    async def _stop_metrics_watch(self) -> None:
        if self._metrics_watch is not None:
            self._metrics_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._metrics_watch

    def _on_line(self, line: str) -> None:
        if not line:
            return
        log.debug("cloudflared: %s", line)
        if self.config.mode == "quick" and (match := QUICK_URL.search(line)):
            self._observe_url("line", match[0])
        if CONNECTED_LINE in line and not self._line_ready:
            self._line_ready = True
            self._refresh()

    # --- readiness and the URL, from the metrics endpoint ---
    async def _watch_metrics(self, address: str, spawned: bool) -> None:
        """Polls cloudflared's metrics endpoint. For a cloudflared we spawned, an endpoint that
        does not answer is no news (the process's exit is)."""
        base = f"http://{address}"
        while True:
            ready, url = await self._probe(base)
            if ready is None and not spawned:
                self._set(streamer_pb2.TUNNEL_STATE_DOWN, "", f"cloudflared metrics at {address} unreachable")
            elif ready is not None:
                self._metrics_ready = ready
                self._observe_url("metrics", url)
                self._refresh()
            await asyncio.sleep(self.poll_s)

    async def _probe(self, base: str) -> tuple[bool | None, str]:
        """(ready, quick URL); ready is None when the endpoint does not answer."""
        try:
            ready = (await self.http.get(f"{base}/ready", timeout=PROBE_TIMEOUT_S)).status_code == 200
            url = ""
            if self.config.mode == "quick":
                response = await self.http.get(f"{base}/quicktunnel", timeout=PROBE_TIMEOUT_S)
                hostname = response.json().get("hostname", "") if response.status_code == 200 else ""
                url = f"https://{hostname}" if hostname else ""
        except (httpx.HTTPError, ValueError, AttributeError):
            return None, ""
        return ready, url

    def _reset_observations(self) -> None:
        self._line_ready = False
        self._metrics_ready = None
        self._reported = {"line": "", "metrics": ""}
        self._url = ""

    def _observe_url(self, source: str, url: str) -> None:
        """The quick URL as last reported by either source (output lines or /quicktunnel):
        whichever changed most recently wins."""
        if url and url != self._reported[source]:
            self._reported[source] = url
            self._url = url
            self._refresh()

    def _refresh(self) -> None:
        ready = self._line_ready if self._metrics_ready is None else self._metrics_ready
        url = self._url if self.config.mode == "quick" else self.config.public_base_url or ""
        if ready and url:
            self._set(streamer_pb2.TUNNEL_STATE_UP, url, "tunnel up")
        else:
            self._set(streamer_pb2.TUNNEL_STATE_STARTING, "", "waiting for the tunnel" + (" URL" if ready else ""))

    def _set(self, state: streamer_pb2.TunnelState, url: str, message: str) -> None:
        status = self.status
        if (status.state, status.public_url) == (state, url) and status.HasField("since"):
            return
        restarts = self.cloudflared.restarts if self.cloudflared is not None else 0
        self.status = streamer_pb2.TunnelStatus(mode=status.mode, state=state, public_url=url, restarts=restarts,
                                                message=message, since=timestamp())
        if url != status.public_url and url:
            log.info("tunnel %s at %s", label(streamer_pb2.TunnelState, state), url)
        self.on_status(self.status)
