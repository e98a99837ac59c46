"""How many bad credentials (API keys, certificates at the handshake) each peer host sent of
late, so that a flood from one host is refused cheaply without slowing anyone else."""

from __future__ import annotations

import collections
import time
import urllib.parse
from collections.abc import Callable

WINDOW_S = 60.0
MAX_PEERS_TRACKED = 10_000


class FailureLimit:
    """Failures (bad credentials) per peer host over a sliding window: a host at `per_window`
    is refused at once until its failures age out, whoever else calls."""

    def __init__(self, per_window: int, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic, max_peers: int = MAX_PEERS_TRACKED) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self.max_peers = max_peers
        self.clock = clock
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, host: str) -> collections.deque[float] | None:
        failures = self._failures.get(host)
        if failures is not None:
            horizon = self.clock() - self.window_s
            while failures and failures[0] < horizon:
                failures.popleft()
        return failures

    def exceeded(self, host: str) -> bool:
        failures = self._recent(host)
        return failures is not None and len(failures) >= self.per_window

    def failed(self, host: str) -> int:
        """Counts one failure; how many `host` has in the window now."""
        failures = self._recent(host)
        if failures is None:
            if len(self._failures) >= self.max_peers:
                self._forget_quiet_peers()
            failures = self._failures[host] = collections.deque(maxlen=self.per_window)
        failures.append(self.clock())
        return len(failures)

    def _forget_quiet_peers(self) -> None:
        for host in [host for host in self._failures if not self._recent(host)]:
            del self._failures[host]
        while len(self._failures) >= self.max_peers:  # all of them busy: forget the longest tracked
            del self._failures[next(iter(self._failures))]


def peer_host(peer: str) -> str:
    """The host of a peer, as gRPC names it (`ipv4:10.0.0.5:41234`, `ipv6:%5B::1%5D:5`) or as
    host:port (`10.0.0.5:41234`, `::1:5`): `10.0.0.5`, `::1`."""
    address = urllib.parse.unquote(peer)
    scheme, _, rest = address.partition(":")
    if scheme in ("ipv4", "ipv6", "unix"):
        address = rest
    host, sep, port = address.rpartition(":")
    return host.strip("[]") if sep and port.isdigit() else address
