"""Free loopback ports, polling with a deadline, and child processes seen from outside."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, overload

from postflow.core.net import PortPool

T = TypeVar("T")

_PORTS = PortPool(seed=os.getpid())


def free_port() -> int:
    """A loopback port for a server another process will bind; never the same one twice."""
    return _PORTS.take()


@overload
async def wait_for(check: Callable[[], Awaitable[T]], timeout: float = ..., interval: float = ...,
                   message: str = ...) -> T: ...


@overload
async def wait_for(check: Callable[[], T], timeout: float = ..., interval: float = ..., message: str = ...) -> T: ...


async def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
                   message: str = "condition") -> Any:
    """Polls `check` (sync or async) until it returns something truthy, and returns that;
    fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {result!r})")
        await asyncio.sleep(interval)


def child_env() -> dict[str, str]:
    """Environment for child processes: no inherited POSTFLOW__ overrides or OTEL exporters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTFLOW", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


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
