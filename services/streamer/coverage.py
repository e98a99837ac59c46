"""Unique byte coverage (parallel and repeated ranges count once) and transfer rate."""

from __future__ import annotations

import bisect
import collections
import time


class Coverage:
    """The set of bytes served so far, as sorted, disjoint, non-adjacent half-open intervals."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.covered = 0

    def add(self, start: int, end: int) -> int:
        """Adds [start, end); returns how many of those bytes were not covered before."""
        if end <= start:
            return 0
        first = bisect.bisect_left(self._ends, start)  # first interval ending at or after start
        last = bisect.bisect_right(self._starts, end)  # intervals starting at or before end
        merged_start, merged_end = start, end
        already = 0
        if first < last:
            merged_start = min(start, self._starts[first])
            merged_end = max(end, self._ends[last - 1])
            already = sum(self._ends[i] - self._starts[i] for i in range(first, last))
        self._starts[first:last] = [merged_start]
        self._ends[first:last] = [merged_end]
        added = (merged_end - merged_start) - already
        self.covered += added
        return added

    @property
    def intervals(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))


class RateMeter:
    """Bytes per second over a sliding window."""

    def __init__(self, window_s: float = 3.0, clock=time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self.total = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, count: int) -> None:
        self.total += count
        now = self.clock()
        self._samples.append((now, self.total))
        while len(self._samples) > 2 and now - self._samples[1][0] > self.window_s:
            self._samples.popleft()

    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        idle = self.clock() - t1
        span = (t1 - t0) + idle
        return 0.0 if span <= 0 or idle > self.window_s else (b1 - b0) / span


class Milestones:
    """The 25/50/75 % marks a transfer passes, each reported once."""

    MARKS = (25, 50, 75)

    def __init__(self, size: int) -> None:
        self.size = size
        self._next = 0

    def passed(self, done: int) -> list[int]:
        marks = []
        while self._next < len(self.MARKS) and done * 100 >= self.MARKS[self._next] * self.size:
            marks.append(self.MARKS[self._next])
            self._next += 1
        return marks
