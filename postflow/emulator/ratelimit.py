"""Frame.io's per-user rate limits ("N calls per window per account_user"), as sliding
windows, with the headers Frame.io answers: `x-ratelimit-limit`, `x-ratelimit-remaining`,
`x-ratelimit-window` (milliseconds) and, on a 429, `Retry-After` (seconds)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    name: str
    calls: int
    window_s: float


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: Limit
    remaining: int
    retry_after_s: float

    def headers(self) -> dict[str, str]:
        headers = {"x-ratelimit-limit": str(self.limit.calls), "x-ratelimit-remaining": str(self.remaining),
                   "x-ratelimit-window": str(int(self.limit.window_s * 1000))}
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


class EmulatedRateLimits:
    """The server side of Frame.io's rate limits: counts each user's calls per limit."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[tuple[str, str], deque[float]] = {}

    def hit(self, user_id: str, limit: Limit) -> Verdict:
        """Counts one call by `user_id` against `limit` unless it is already used up."""
        now = self._clock()
        calls = self._calls.setdefault((user_id, limit.name), deque())
        while calls and calls[0] <= now - limit.window_s:
            calls.popleft()
        if len(calls) >= limit.calls:
            return Verdict(False, limit, 0, calls[0] + limit.window_s - now)
        calls.append(now)
        return Verdict(True, limit, limit.calls - len(calls), 0.0)

    def clear(self) -> None:
        self._calls.clear()
