"""Waiting between retries: exponential backoff with jitter, reset after a healthy period.

`backoff_delay` is the formula, for callers that count attempts themselves (a job's retries,
a part's PUTs). `Backoff` counts failures for something that runs and fails again and again
(a stream, a child process, a refresh loop): a run that lasted `reset_after_s` was healthy,
so the failure that ends it waits as if it were the first.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


def backoff_delay(attempt: int, base_s: float, max_s: float, jitter: float = 0.5,
                  rng: Callable[[], float] = random.random, factor: float = 2.0) -> float:
    """Attempt 1 waits about `base_s`, each next one `factor` times as long, up to `max_s`; the
    wait is drawn from [1 - jitter, 1] of that, so retries from many callers spread out."""
    ceiling = min(max_s, base_s * factor ** max(attempt - 1, 0))
    return ceiling * (1 - jitter + jitter * rng())


class Backoff:
    """Failures counted since the last success or healthy run; `failed()` gives the wait."""

    def __init__(self, base_s: float, max_s: float, *, jitter: float = 0.5, factor: float = 2.0,
                 reset_after_s: float | None = None, rng: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {jitter}")
        if factor < 1:
            raise ValueError(f"factor must be at least 1, got {factor}")
        self.base_s = base_s
        self.max_s = max_s
        self.jitter = jitter
        self.factor = factor
        self.reset_after_s = reset_after_s
        self.failures = 0
        self._rng = rng
        self._clock = clock
        self._started_at: float | None = None

    def started(self) -> None:
        """A run (a connection, a process) begins; with `reset_after_s`, its length decides
        whether the failure that ends it starts the count afresh."""
        self._started_at = self._clock()

    def failed(self) -> float:
        """Counts a failure and returns how long to wait before the next try."""
        if (self.reset_after_s is not None and self._started_at is not None
                and self._clock() - self._started_at >= self.reset_after_s):
            self.failures = 0
        self._started_at = None
        self.failures += 1
        return backoff_delay(self.failures, self.base_s, self.max_s, self.jitter, self._rng, self.factor)

    def succeeded(self) -> None:
        """The next failure waits as if it were the first."""
        self.failures = 0
        self._started_at = None
