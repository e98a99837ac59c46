"""Child processes of tests and benchmarks: the environment they get, the `postflow` command,
a service run as one, stopping them, and what /proc says about them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from postflow.core.net import PORT_RANGE_ENV
from postflow.testing.ports import CHILDREN_SPAN

CHECKOUT = Path(__file__).resolve().parents[2]  # holds `postflow` and `services`


def child_env() -> dict[str, str]:
    """Environment for child processes: no inherited POSTFLOW__ overrides or OTEL exporters;
    the ports they pick themselves are this worker's for children (postflow.testing.ports)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTFLOW", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    low, high = CHILDREN_SPAN
    env[PORT_RANGE_ENV] = f"{low}-{high}"
    return env


async def run_postflow(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """`postflow ARGS…` (this checkout's) to its end: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", *args, cwd=CHECKOUT, env=env or child_env(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def stop_process(process: asyncio.subprocess.Process | None, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not ended after `timeout` s."""
    if process is None or process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()


class ServiceProcess:
    """`python -m MODULE -c CONFIG` (a service of this checkout) as a child process, its output
    appended to a log file."""

    def __init__(self, module: str, config_path: Path, log_path: Path) -> None:
        self.module = module
        self.config_path = config_path
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with await asyncio.to_thread(open, self.log_path, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, "-c", str(self.config_path), cwd=CHECKOUT, env=child_env(),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )

    @property
    def running(self) -> asyncio.subprocess.Process:
        assert self.process is not None, f"{self.module} was never started"
        return self.process

    def kill(self) -> None:
        """SIGKILL, as a crash does (`wait()` for the end)."""
        self.running.kill()

    async def wait(self) -> int:
        return await self.running.wait()

    async def stop(self, timeout: float = 20) -> None:
        await stop_process(self.process, timeout)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def process_alive(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def process_rss_peak_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MB."""
    return _proc_status_mb(pid, "VmHWM")


def process_rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) of a live process, in MB."""
    return _proc_status_mb(pid, "VmRSS")


def _proc_status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key} for pid {pid}")
