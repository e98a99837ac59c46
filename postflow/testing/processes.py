"""Child processes of tests and benchmarks: the environment they get, stopping them, and what
/proc says about them."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path


def child_env() -> dict[str, str]:
    """Environment for child processes: no inherited POSTFLOW__ overrides or OTEL exporters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTFLOW", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


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
