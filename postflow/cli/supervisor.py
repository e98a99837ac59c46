"""`postflow up`: the four services as supervised child processes.

Each child runs exactly what compose runs (`python -m services.NAME -c FILE`). A child that
dies is restarted with exponential backoff; one that exits with the config-error code is
not (restarting cannot fix a config), and stops the whole set with that error. Output of
each child goes to `<state_dir>/logs/<service>.log` and to our stderr; its pid is kept in
`<state_dir>/run/<service>.pid` while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postflow.core.process import tied_to_parent

log = logging.getLogger(__name__)

SERVICES = ("auth", "streamer", "watcher", "dashboard")
CONFIG_ERROR_EXIT = 2
STOP_GRACE_S = 10.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long starts its next backoff from scratch


def service_command(name: str, config_path: str | None) -> list[str]:
    """The arguments after the interpreter; compose's `command:` is the same list."""
    return ["-m", f"services.{name}", *(["-c", config_path] if config_path else [])]


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    pid_path: Path
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff_s: float = BACKOFF_START_S
    pump: asyncio.Task | None = None
    errors: list[str] = field(default_factory=list)


class Supervisor:
    def __init__(self, config_path: str | None, state_dir: Path, services: Sequence[str] = SERVICES,
                 env: dict[str, str] | None = None, echo=None) -> None:
        self.state_dir = state_dir
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.echo = echo if echo is not None else sys.stderr
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        (state_dir / "run").mkdir(parents=True, exist_ok=True)
        self.children = [
            Child(name, [sys.executable, *service_command(name, config_path)],
                  state_dir / "logs" / f"{name}.log", state_dir / "run" / f"{name}.pid")
            for name in services
        ]
        self.stopping = asyncio.Event()
        self.config_error: str | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        tasks = [asyncio.create_task(self._keep_running(child)) for child in self.children]
        await self.stopping.wait()
        await asyncio.gather(*(self._stop(child) for child in self.children))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.config_error:
            print(self.config_error, file=sys.stderr)
            return CONFIG_ERROR_EXIT
        return 0

    async def _keep_running(self, child: Child) -> None:
        while not self.stopping.is_set():
            await self._spawn(child)
            code = await child.process.wait()
            await child.pump
            child.pid_path.unlink(missing_ok=True)
            if self.stopping.is_set():
                return
            if code == CONFIG_ERROR_EXIT:
                detail = "\n".join(child.errors[-5:]) or f"postflow {child.name}: config error"
                self.config_error = detail
                self.stopping.set()
                return
            if time.monotonic() - child.started_at > HEALTHY_AFTER_S:
                child.backoff_s = BACKOFF_START_S
            log.warning("%s exited with code %s; restarting in %.1fs", child.name, code, child.backoff_s)
            try:
                await asyncio.wait_for(self.stopping.wait(), child.backoff_s)
                return
            except TimeoutError:
                pass
            child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
            child.restarts += 1

    async def _spawn(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            *tied_to_parent(child.argv), env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.errors.clear()
        write_pid(child.pid_path, child.process.pid)
        child.pump = asyncio.create_task(self._pump(child))

    async def _pump(self, child: Child) -> None:
        """Drains the child's output to its log file and our stderr, line by line."""
        with open(child.log_path, "ab") as log_file:
            while line := await child.process.stdout.readline():
                log_file.write(line)
                log_file.flush()
                text = line.decode("utf-8", "replace").rstrip()
                if "config error" in text:
                    child.errors.append(text)
                print(text, file=self.echo, flush=True)

    async def _stop(self, child: Child) -> None:
        process = child.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_S)
        except TimeoutError:
            log.warning("%s did not stop within %.0fs; killing it", child.name, STOP_GRACE_S)
            process.kill()
            await process.wait()
        child.pid_path.unlink(missing_ok=True)


def write_pid(path: Path, pid: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


def read_pid(state_dir: Path, name: str) -> int | None:
    try:
        return int((state_dir / "run" / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None
