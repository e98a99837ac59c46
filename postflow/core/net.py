"""Listening sockets, ports and local URLs, the same way everywhere."""

from __future__ import annotations

import ipaddress
import random
import socket
from pathlib import Path

WILDCARDS = ("", "0.0.0.0", "::")


def listen(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A TCP socket listening on host:port (port 0: any free port). "::" takes IPv4 as well."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol says TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(host != "::"))
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def pick_port(host: str = "127.0.0.1", preferred: int = 0) -> int:
    """`preferred` when it is free on `host`, else a free port the kernel picks. Another
    process may take it before it is bound: a server of this process binds port 0 instead."""
    if preferred and bindable(host, preferred):
        return preferred
    with _socket_for(host) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bindable(host: str, port: int) -> bool:
    with _socket_for(host) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _socket_for(host: str) -> socket.socket:
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for the source ports of outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


class PortPool:
    """Free loopback ports for servers started by other processes (tests, benchmarks), each
    handed out once per pool and drawn from below the kernel's ephemeral range, so that
    neither another server nor the source port of some outgoing connection can take it
    between the pick and the bind."""

    def __init__(self, low: int = 10000, seed: int | None = None) -> None:
        self.low = low
        self.high = ephemeral_ports()[0] - 1
        self.given: set[int] = set()
        self.random = random.Random(seed)

    def take(self) -> int:
        for _ in range(1000):
            port = self.random.randint(self.low, self.high)
            if port not in self.given and bindable("127.0.0.1", port):
                self.given.add(port)
                return port
        raise RuntimeError(f"no free loopback port between {self.low} and {self.high}")


def reachable_host(host: str) -> str:
    """Where to connect to reach a server listening on `host` (a wildcard: this machine)."""
    return "127.0.0.1" if host in WILDCARDS else host


def http_url(host: str, port: int, *, tls: bool = False) -> str:
    """The http:// (with `tls`, https://) base URL of a server listening on host:port, seen
    from this machine."""
    host = reachable_host(host)
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def is_loopback(host: str) -> bool:
    """Whether `host` (a name, an address, or an IPv6 address in brackets) stays on this machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
