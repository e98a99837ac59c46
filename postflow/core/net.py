"""Listening sockets, ports and local URLs, the same way everywhere."""

from __future__ import annotations

import ipaddress
import os
import random
import socket
from collections.abc import Mapping
from pathlib import Path

from postflow.core.config_types import ConfigError

WILDCARDS = ("", "0.0.0.0", "::")
PORT_RANGE_ENV = "POSTFLOW_PORT_RANGE"  # "LOW-HIGH": where PortPool picks (default: 10000 up to the ephemeral range)


class CannotListen(OSError):
    """Nothing of ours can listen on an address (another socket holds it, or it is not ours to
    take); the message names the address."""


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
    except OSError as exc:
        sock.close()
        raise CannotListen(f"cannot listen on {host_port(host, port)}: {exc.strerror or exc}") from None
    return sock


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def pick_port(host: str = "127.0.0.1", preferred: int = 0) -> int:
    """One port for a server another process will bind (`PortPool`): `preferred` while it is
    free on `host`. A server of this process binds port 0 instead."""
    return PortPool().take(host, preferred)


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


def port_range(env: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """Where ports for other processes' servers are picked: $POSTFLOW_PORT_RANGE ("LOW-HIGH"),
    else from 10000 to just below the kernel's ephemeral range."""
    if value := env.get(PORT_RANGE_ENV):
        try:
            low, high = (int(part) for part in value.split("-"))
        except ValueError:
            raise ConfigError(f"{PORT_RANGE_ENV}={value!r}: expected LOW-HIGH, e.g. 20000-29999") from None
        if not 0 < low <= high < 65536:
            raise ConfigError(f"{PORT_RANGE_ENV}={value!r}: expected 0 < LOW <= HIGH < 65536")
        return low, high
    return 10000, ephemeral_ports()[0] - 1


class PortPool:
    """Free ports for servers started by other processes (`postflow up`'s services, the demo's,
    tests'), each handed out once per pool and drawn from `port_range()`: below the kernel's
    ephemeral range, where neither a server binding port 0 nor the source port of an
    outgoing connection can take it between the pick and the bind. What can still take it is
    another picker using the same range; the server then fails with CannotListen."""

    def __init__(self, span: tuple[int, int] | None = None, seed: int | None = None) -> None:
        self.low, self.high = span or port_range()
        self.given: set[int] = set()
        self.random = random.Random(seed)

    def take(self, host: str = "127.0.0.1", preferred: int = 0) -> int:
        """A free port on `host` not given before; `preferred` while it is free."""
        if preferred and preferred not in self.given and bindable(host, preferred):
            self.given.add(preferred)
            return preferred
        for _ in range(1000):
            port = self.random.randint(self.low, self.high)
            if port not in self.given and bindable(host, port):
                self.given.add(port)
                return port
        raise RuntimeError(f"no free port on {host} between {self.low} and {self.high}")


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
