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

A spawned cloudflared has its stdout and stderr drained for as long as it runs (a full
pipe would freeze it), is restarted with exponential backoff when it dies, and is stopped
with SIGTERM, then SIGKILL. Every change of state or URL is announced through `on_status`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable

import httpx
from google.protobuf.timestamp_pb2 import Timestamp

from postflow.core.config import TunnelConfig, reachable_host, split_address
from postflow.core.process import tied_to_parent
from postflow.v1 import streamer_pb2

log = logging.getLogger(__name__)

QUICK_URL = re.compile(r"https://(?!api\.)[a-z0-9-]+\.trycloudflare\.com")
CONNECTED_LINE = "Registered tunnel connection"
MODES = {"quick": streamer_pb2.TUNNEL_MODE_QUICK, "named": streamer_pb2.TUNNEL_MODE_NAMED,
         "none": streamer_pb2.TUNNEL_MODE_NONE}
STABLE_RUN_S = 60.0  # a run this long resets the restart backoff
MAX_LINE = 4096  # longer output lines are cut before matching
KEPT_LINES = 20  # recent output lines kept to explain a crash
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
        self.process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._output: collections.deque[str] = collections.deque(maxlen=KEPT_LINES)
        self._reset_observations()

    @property
    def public_url(self) -> str:
        return self.status.public_url

    @property
    def spawns(self) -> bool:
        return self.config.mode != "none" and bool(self.config.cloudflared)

    async def start(self) -> None:
        if self.config.mode == "none":
            base = self.config.public_base_url or f"http://{self.local_host}:{self.local_port}"
            self._set(streamer_pb2.TUNNEL_STATE_UP, base, "no tunnel; serving at the configured address")
        elif not self.spawns and self.config.mode == "named":
            self._set(streamer_pb2.TUNNEL_STATE_UP, self.config.public_base_url or "",
                      "named tunnel run outside PostFlow")
        elif not self.spawns:
            self._set(streamer_pb2.TUNNEL_STATE_STARTING, "", f"waiting for cloudflared at {self.config.metrics}")
            self._task = asyncio.create_task(self._watch_metrics(self.config.metrics, alive=None))
        else:
            self._task = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        self._stopping = True
        await self._terminate()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._set(streamer_pb2.TUNNEL_STATE_STOPPED, "", "stopped")

    # --- the spawned process ---
    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            started = time.monotonic()
            code = await self._run_once()
            if self._stopping:
                return
            failures = 1 if time.monotonic() - started > STABLE_RUN_S else failures + 1
            delay = min(self.config.restart_backoff_max_s, self.backoff_base_s * 2 ** (failures - 1))
            self.status.restarts += 1
            last = self._output[-1] if self._output else "no output"
            log.warning("cloudflared exited (%s); restarting in %.1fs; last output: %s", code, delay, last)
            self._set(streamer_pb2.TUNNEL_STATE_DOWN, "", f"cloudflared exited ({code}); restarting in {delay:.1f}s")
            await asyncio.sleep(delay)

    async def _run_once(self) -> str:
        metrics = self._metrics_address()
        self._reset_observations()
        self._output.clear()
        self._set(streamer_pb2.TUNNEL_STATE_STARTING, "", "starting cloudflared")
        binary = shutil.which(self.config.cloudflared)
        if binary is None:
            return f"cannot start {self.config.cloudflared}: not found, or not executable"
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self._argv(binary, metrics), env=self._env(), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            return f"cannot start {self.config.cloudflared}: {exc.strerror or exc}"
        process = self.process
        drains = [asyncio.create_task(self._drain(stream)) for stream in (process.stdout, process.stderr)]
        watcher = asyncio.create_task(self._watch_metrics(metrics, alive=process))
        try:
            code = await process.wait()
        finally:
            watcher.cancel()
            # The rest of the output is still read (the last lines say why it died), but a
            # pipe some grandchild keeps open must not hold up the restart.
            _, pending = await asyncio.wait(drains, timeout=1.0)
            for task in (*pending, watcher):
                task.cancel()
            await asyncio.gather(watcher, *pending, return_exceptions=True)
        return f"exit code {code}"

    def _argv(self, binary: str, metrics: str) -> list[str]:
        argv = [binary, "tunnel", "--no-autoupdate", "--metrics", metrics]
        if self.config.mode == "quick":
            return tied_to_parent([*argv, "--url", f"http://{self.local_host}:{self.local_port}"])
        return tied_to_parent([*argv, "run"])

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "TUNNEL_TOKEN"}
        if self.config.mode == "named" and self.config.token:
            env["TUNNEL_TOKEN"] = self.config.token
        return env

    def _metrics_address(self) -> str:
        host, port = split_address(self.config.metrics, "streamer.tunnel.metrics")
        if port == 0:  # pick one now, so the metrics endpoint can be found
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
        return f"{host}:{port}"

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stream.read(65536):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()[-MAX_LINE:]
            for raw in lines:
                self._on_line(raw[:MAX_LINE].decode("utf-8", "replace").rstrip())
        if pending:
            self._on_line(pending.decode("utf-8", "replace").rstrip())

    def _on_line(self, line: str) -> None:
        if not line:
            return
        self._output.append(line)
        log.debug("cloudflared: %s", line)
        if self.config.mode == "quick" and (match := QUICK_URL.search(line)):
            self._observe_url("line", match[0])
        if CONNECTED_LINE in line and not self._line_ready:
            self._line_ready = True
            self._refresh()

    async def _terminate(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), self.stop_timeout_s)
        except TimeoutError:
            log.warning("cloudflared ignored SIGTERM; killing it")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    # --- readiness and the URL, from the metrics endpoint ---
    async def _watch_metrics(self, address: str, alive: asyncio.subprocess.Process | None) -> None:
        base = f"http://{address}"
        while True:
            ready, url = await self._probe(base)
            if ready is None and alive is None:
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
        self._metrics_ready: bool | None = None  # None until the metrics endpoint answers
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

    def _set(self, state: int, url: str, message: str) -> None:
        status = self.status
        if (status.state, status.public_url) == (state, url) and status.HasField("since"):
            return
        since = Timestamp()
        since.GetCurrentTime()
        self.status = streamer_pb2.TunnelStatus(mode=status.mode, state=state, public_url=url,
                                                restarts=status.restarts, message=message, since=since)
        if url != status.public_url and url:
            log.info("tunnel %s at %s", streamer_pb2.TunnelState.Name(state).removeprefix("TUNNEL_STATE_").lower(), url)
        self.on_status(self.status)
