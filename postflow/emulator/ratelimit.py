"""Frame.io's rate limits as documented: a leaky bucket per account and endpoint ("N calls per
window"), answered with `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-window`
(milliseconds) on every response of a limited endpoint, success or 429. A bucket holds
`calls` and drains at `calls / window`; a call that finds it full is refused. Frame.io does
not document `Retry-After`, so a 429 carries none unless the `retry_after` fault asks."""

from __future__ import annotations

import math
import time
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
    wait_s: float  # until the bucket takes one more call (0 when it would now)

    def headers(self, retry_after: float | bool | None = None) -> dict[str, str]:
        """The rate headers; `Retry-After` on a 429 only when `retry_after` asks (True: the real wait)."""
        headers = {"x-ratelimit-limit": str(self.limit.calls), "x-ratelimit-remaining": str(self.remaining),
                   "x-ratelimit-window": str(int(self.limit.window_s * 1000))}
        if not self.allowed and retry_after is not None and retry_after is not False:
            wait = self.wait_s if retry_after is True else float(retry_after)
            headers["Retry-After"] = str(max(0, math.ceil(wait)))
        return headers


@dataclass
class Bucket:
    level: float
    at: float


class EmulatedRateLimits:
    """The server side of Frame.io's rate limits: one leaky bucket per (account, limit)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # tests may stop it
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def hit(self, account_id: str, limit: Limit) -> Verdict:
        """Pours one call by `account_id` into `limit`'s bucket unless it is full."""
        now = self.clock()
        rate = limit.calls / limit.window_s
        bucket = self._buckets.setdefault((account_id, limit.name), Bucket(0.0, now))
        bucket.level, bucket.at = max(0.0, bucket.level - (now - bucket.at) * rate), now
        if bucket.level + 1 > limit.calls + 1e-9:
            return Verdict(False, limit, 0, (bucket.level + 1 - limit.calls) / rate)
        bucket.level += 1
        return Verdict(True, limit, max(0, math.floor(limit.calls - bucket.level + 1e-9)), 0.0)

    def clear(self) -> None:
        self._buckets.clear()
