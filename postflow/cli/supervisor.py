"""`postflow up`: the four services as supervised child processes.

Each child runs exactly what compose runs (`python -m services.NAME -c FILE`). A child that
dies is restarted with exponential backoff; one that exits with the config-error code or
the cannot-listen code is not (restarting cannot fix a config, nor free a port another
process holds), and stops the whole set with that error and exit code. Output of
each child goes to `<state_dir>/logs/<service>.log` and to our stderr; its pid is kept in
`<state_dir>/run/<service>.pid` while it runs.

Each service serves its Prometheus metrics at `metrics.<service>`; one left empty gets a free
loopback port (`PortPool`), handed to the child as `POSTFLOW__METRICS__<SERVICE>`. Where each one serves
is kept in `<state_dir>/run/metrics.json` while the set runs (`postflow status` reads it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from postflow.core.backoff import Backoff
from postflow.core.config import ENV_PREFIX, Config, split_address
from postflow.core.files import write_private
from postflow.core.net import PortPool, host_port
from postflow.core.process import Command, Exit, SupervisedProcess

SERVICES = ("auth", "streamer", "watcher", "dashboard")
CONFIG_ERROR_EXIT = 2  # the services' exit codes (postflow.core.service.run_service)
CANNOT_LISTEN_EXIT = 3
# What a child's last lines say when it exits with each of these codes.
FINAL_EXITS = {CONFIG_ERROR_EXIT: "config error", CANNOT_LISTEN_EXIT: "cannot listen on"}
STOP_GRACE_S = 10.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long starts its next backoff from scratch
METRICS_FILE = "metrics.json"


def service_command(name: str, config_path: str | None) -> list[str]:
    """The arguments after the interpreter; compose's `command:` is the same list."""
    return ["-m", f"services.{name}", *(["-c", config_path] if config_path else [])]


def metrics_addresses(config: Config, services: Sequence[str] = SERVICES,
                      ports: PortPool | None = None) -> dict[str, str]:
    """Where each service is to serve its metrics: `metrics.<service>`, or a free port picked
    now from `ports` for one that is empty (on loopback) or names port 0 (on its host)."""
    ports = ports or PortPool()
    addresses = {}
    for name in services:
        address = getattr(config.metrics, name)
        host, port = split_address(address, f"metrics.{name}") if address else ("127.0.0.1", 0)
        if not port:
            address = host_port(host, ports.take(host))
        addresses[name] = address
    return addresses


class Supervisor:
    def __init__(self, config_path: str | None, state_dir: Path, services: Sequence[str] = SERVICES,
                 env: dict[str, str] | None = None, echo=None, metrics: Mapping[str, str] | None = None) -> None:
        """`metrics`: where each service serves its metrics (`metrics_addresses`), overriding the config."""
        self.state_dir = state_dir
        self.config_path = config_path
        self.services = services
        self.metrics = dict(metrics or {})
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.env.update({f"{ENV_PREFIX}METRICS__{name.upper()}": address for name, address in self.metrics.items()})
        self.echo = echo if echo is not None else sys.stderr
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        (state_dir / "run").mkdir(parents=True, exist_ok=True)
        self.stopping = asyncio.Event()
        self.final_error: tuple[int, str] | None = None  # the exit code and lines of a child that ended the set

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        with contextlib.ExitStack() as logs:
            children = []
            for name in self.services:
                log_file = await asyncio.to_thread(open, self.state_dir / "logs" / f"{name}.log", "ab")
                children.append(self._child(name, logs.enter_context(log_file)))
            metrics_path = self.state_dir / "run" / METRICS_FILE
            if self.metrics:
                await asyncio.to_thread(write_private, metrics_path, json.dumps(self.metrics) + "\n")
            for child in children:
                child.start()
            await self.stopping.wait()
            await asyncio.gather(*(child.stop() for child in children))
            await asyncio.to_thread(metrics_path.unlink, missing_ok=True)
        if self.final_error:
            code, message = self.final_error
            print(message, file=sys.stderr)
            return code
        return 0

    def _reload(self) -> None:
        """SIGHUP: each service reads the config file again (see `postflow reload`)."""
        for name in self.services:
            pid = read_pid(self.state_dir, name)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)

    def _child(self, name: str, log_file: IO[bytes]) -> SupervisedProcess:
        """One service: its output goes to its log file and our stderr, its pid to its pid file."""
        argv = [sys.executable, *service_command(name, self.config_path)]
        pid_path = self.state_dir / "run" / f"{name}.pid"
        child: SupervisedProcess

        def on_line(line: str) -> None:
            log_file.write(f"{line}\n".encode())
            log_file.flush()
            print(line, file=self.echo, flush=True)

        def on_exit(exit: Exit) -> None:
            pid_path.unlink(missing_ok=True)
            if exit.restart_in_s is None and exit.code in FINAL_EXITS and not self.stopping.is_set():
                said = FINAL_EXITS[exit.code]
                errors = [line for line in child.output if said in line]
                self.final_error = exit.code, "\n".join(errors[-5:]) or f"postflow {name}: {said}"
                self.stopping.set()

        child = SupervisedProcess(
            name, lambda: Command(argv, self.env), on_line=on_line, on_spawn=lambda pid: write_pid(pid_path, pid),
            on_exit=on_exit, final_codes=(CONFIG_ERROR_EXIT,), final_first_codes=(CANNOT_LISTEN_EXIT,),
            stop_grace_s=STOP_GRACE_S, new_session=True,
            backoff=Backoff(BACKOFF_START_S, BACKOFF_MAX_S, jitter=0, reset_after_s=HEALTHY_AFTER_S),
        )
        return child


def write_pid(path: Path, pid: int) -> None:
    write_private(path, f"{pid}\n")


def read_pid(state_dir: Path, name: str) -> int | None:
    try:
        return int((state_dir / "run" / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None


def read_metrics_addresses(state_dir: Path) -> dict[str, str] | None:
    """Where the services of a running `postflow up` serve their metrics (None: none runs)."""
    try:
        return json.loads((state_dir / "run" / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return None
