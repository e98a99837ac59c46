"""`postflow demo`: zero configuration. Starts the Frame.io emulator and the four services on
loopback, connects Frame.io through the emulator's OAuth (the same dashboard
/auth/login → IMS → /auth/callback path a user takes), and prints where to drop files."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import httpx

from postflow.cli.certs import ensure_mesh_certs
from postflow.cli.supervisor import CANNOT_LISTEN_EXIT, Supervisor, metrics_addresses
from postflow.core.config import load_config, write_config
from postflow.core.net import PortPool

DEV_CLIENT_ID = "postflow-dev"
DEV_CLIENT_SECRET = "postflow-dev-secret"
START_TIMEOUT_S = 60.0
START_ATTEMPTS = 3

T = TypeVar("T")


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "postflow-demo"


def demo_config(state_dir: Path, emulator_url: str, seeded: dict, ports: dict[str, int]) -> dict:
    return {
        "frameio": {
            "oauth_web_app": True, "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET,
            "auto_token_refresh": True, "api_version": "v4",
            "redirect_uri": f"http://127.0.0.1:{ports['dashboard']}/auth/callback",
            "account_id": seeded["account_id"], "project_id": seeded["project_id"],
            "api_base_url": emulator_url, "ims_base_url": emulator_url,
        },
        "watch": {"root": str(state_dir / "watch"), "poll_interval_s": 0.5, "stable_after_s": 2,
                  "include": ["*"], "max_concurrent": 4, "inotify": True},
        "transfer": {"mode": "auto"},
        "streamer": {"listen": f"127.0.0.1:{ports['range']}", "tunnel": {"mode": "none"}},
        "dashboard": {"listen": f"127.0.0.1:{ports['dashboard']}"},
        "services": {name: f"127.0.0.1:{ports[name]}" for name in ("auth", "watcher", "streamer")},
        "mesh": {"api_listen": ""},  # no job API port for other tools: the demo is all on loopback
        "state_dir": str(state_dir),
    }


def reset_state(state_dir: Path) -> None:
    """A fresh emulator means fresh ids: keep only the drop folder from an earlier demo."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for entry in state_dir.iterdir():
        if entry.name != "watch":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (state_dir / "watch").mkdir(exist_ok=True)


async def poll_json(client: httpx.AsyncClient, url: str, timeout: float = START_TIMEOUT_S, accept=bool) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = await client.get(url)
            if response.status_code == 200 and accept(data := response.json()):
                return data
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def connect_frameio(dashboard_url: str) -> None:
    """Once every service is ready, walks the OAuth web-app flow like a browser: login → IMS
    authorize → callback."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as browser:
        await poll_json(browser, f"{dashboard_url}/readyz")
        response = await browser.get(f"{dashboard_url}/auth/login")
        response.raise_for_status()
        await poll_json(browser, f"{dashboard_url}/api/status",
                        accept=lambda s: (s.get("auth") or {}).get("state") == "connected")


async def run_demo(state_dir: Path, dashboard_port: int, emulator_port: int, out=sys.stdout) -> int:
    """The demo until SIGTERM/SIGINT. Its ports are picked here and bound by its child processes
    a moment later; one that another process takes meanwhile stops the start (the banner comes
    only once every service listens), and the demo starts again on other ports."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return await run_demo_once(state_dir, dashboard_port, emulator_port, out)
        except PortTaken as exc:
            again = f"; starting again on other ports ({attempt + 1} of {START_ATTEMPTS})"
            print(f"postflow demo: {exc}{again if attempt < START_ATTEMPTS else ''}", file=sys.stderr)
    return CANNOT_LISTEN_EXIT


class PortTaken(Exception):
    """A port the demo picked was taken before its server could listen on it."""


async def run_demo_once(state_dir: Path, dashboard_port: int, emulator_port: int, out=sys.stdout) -> int:
    reset_state(state_dir)
    pool = PortPool()
    ports = {"emulator": pool.take(preferred=emulator_port), "dashboard": pool.take(preferred=dashboard_port),
             **{name: pool.take() for name in ("auth", "watcher", "streamer", "range")}}
    emulator_url = f"http://127.0.0.1:{ports['emulator']}"
    (state_dir / "logs").mkdir(exist_ok=True)
    emulator_log = await asyncio.to_thread(open, state_dir / "logs" / "emulator.log", "ab")
    with emulator_log:  # the child keeps its own copy of the descriptor
        emulator = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "postflow.emulator", "--host", "127.0.0.1", "--port", str(ports["emulator"]),
            "--allow-http-loopback-redirect",
            stdin=asyncio.subprocess.DEVNULL, stdout=emulator_log, stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            seeded = await first_of(poll_json(client, f"{emulator_url}/_emulator/state"), emulator.wait())
        if seeded is None:  # the emulator ended first
            if emulator.returncode == CANNOT_LISTEN_EXIT:
                raise PortTaken(f"the emulator cannot listen on {emulator_url}")
            print(f"postflow demo: the emulator exited (code {emulator.returncode}); see its log in "
                  f"{state_dir / 'logs'}", file=sys.stderr)
            return 1
        config_path = state_dir / "config.json"
        write_config(demo_config(state_dir, emulator_url, seeded, ports), config_path)
        config = await asyncio.to_thread(load_config, config_path)
        await asyncio.to_thread(ensure_mesh_certs, config)
        supervisor = Supervisor(str(config_path), state_dir, echo=_Discard(),
                                metrics=metrics_addresses(config, ports=pool))
        running = asyncio.create_task(supervisor.run())
        dashboard_url = f"http://127.0.0.1:{ports['dashboard']}"
        connecting = asyncio.create_task(connect_frameio(dashboard_url))
        done, _ = await asyncio.wait({running, connecting}, return_when=asyncio.FIRST_COMPLETED)
        if running in done:
            connecting.cancel()
            if running.result() == CANNOT_LISTEN_EXIT:
                raise PortTaken("a service could not listen on the port picked for it")
            return running.result() or 1
        if connecting.exception() is not None:
            supervisor.stopping.set()
            await running
            print(f"postflow demo: could not connect Frame.io: {connecting.exception()}", file=sys.stderr)
            return 1
        print(f"PostFlow demo is running (Frame.io emulator at {emulator_url}).\n"
              f"  Dashboard:        {dashboard_url}/\n"
              f"  Drop files into:  {state_dir / 'watch'}\n"
              f"  Logs:             {state_dir / 'logs'}\n"
              f"Press Ctrl-C to stop.", file=out, flush=True)
        return await running
    finally:
        if emulator.returncode is None:
            emulator.terminate()
            await emulator.wait()


async def first_of(wanted: Awaitable[T], other: Awaitable[object]) -> T | None:
    """`wanted`'s result, or None when `other` ends first (`wanted` is then cancelled)."""
    wanted_task, other_task = asyncio.ensure_future(wanted), asyncio.ensure_future(other)
    await asyncio.wait({wanted_task, other_task}, return_when=asyncio.FIRST_COMPLETED)
    for task in (wanted_task, other_task):
        if not task.done():
            task.cancel()
    await asyncio.gather(wanted_task, other_task, return_exceptions=True)
    return wanted_task.result() if wanted_task.done() and not wanted_task.cancelled() else None


class _Discard(io.TextIOBase):
    """The demo keeps service output in the log files only, so the terminal stays readable."""

    def write(self, text: str) -> int:
        return len(text)
