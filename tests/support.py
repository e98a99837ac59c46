"""Helpers shared by the tests: free loopback ports, polling with a deadline, media files."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CHUNK = 8 * 1024 * 1024


class PortPool:
    """Free loopback ports for servers the tests start, each handed out once per test run and
    drawn from below the kernel's ephemeral range, so that neither another server nor the
    source port of some outgoing connection can take it between the pick and the bind."""

    def __init__(self, low: int = 10000) -> None:
        self.low = low
        self.high = ephemeral_ports()[0] - 1
        self.given: set[int] = set()
        self.random = random.Random(os.getpid())

    def take(self) -> int:
        for _ in range(1000):
            port = self.random.randint(self.low, self.high)
            if port not in self.given and bindable(port):
                self.given.add(port)
                return port
        raise RuntimeError(f"no free loopback port between {self.low} and {self.high}")


def ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_PORTS = PortPool()


def free_port() -> int:
    return _PORTS.take()


async def wait_for(check: Callable[[], Awaitable[T] | T], timeout: float = 10.0, interval: float = 0.05,
                   message: str = "condition") -> T:
    """Polls `check` (sync or async) until it returns something truthy; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        last = result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")
        await asyncio.sleep(interval)


def wait_for_sync(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
                  message: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {result!r})")
        time.sleep(interval)


def write_media(path: Path, size: int, seed: int = 0) -> str:
    """Writes `size` pseudo-random bytes quickly (a repeated random block shifted by offset,
    so no two 8 MiB chunks are equal); returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * (CHUNK // 32)
    with open(path, "wb") as out:
        written = 0
        index = 0
        while written < size:
            piece = index.to_bytes(8, "big") + block[8:]
            piece = piece[: min(CHUNK, size - written)]
            out.write(piece)
            digest.update(piece)
            written += len(piece)
            index += 1
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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


def child_env() -> dict[str, str]:
    """Environment for child processes: no inherited POSTFLOW__ overrides or OTEL exporters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTFLOW", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env
