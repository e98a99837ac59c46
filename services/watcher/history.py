"""Analytics from the ledger: deliveries and bytes per bucket (an hour or a day), the time from
"stable" to "on Frame.io", and why jobs failed, per pipeline, over a chosen range.

- A delivery is a job that became DONE in the range (by `delivered_at`). Its time to Frame.io
  is `delivered_at - created_at`: from the moment its file was stable and queued (or submitted)
  to the moment Frame.io had verified it, waits and retries included.
- A failure is a job that is FAILED now and failed in the range (its last update: nothing
  changes a FAILED job but a retry, and a retried job is no longer one).
- Percentiles (median, p95) interpolate linearly between the closest ranks.
- A failure's cause is its error with the details taken out, so that one problem counts once:
  the attempt count ("(gave up after 3 attempts)") goes, then everything from the first "; " or
  " (" (the detail), quoted text becomes "…" and every word holding a digit (a size, an id, a
  count, a time) "N"; at most CAUSE_CHARS characters.

Bounded: a range holds at most MAX_BUCKETS buckets (postflow/core/history.py), and one answer
reads at most `max_rows` deliveries and as many failures, the newest (`capped` says when older
ones were left out). The rows are read on the ledger's thread and summed on another, so
neither the ledger nor the event loop waits for the sums.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from services.watcher.jobs import DONE, FAILED
from services.watcher.ledger import Ledger

MAX_ROWS = 100_000
MAX_CAUSES = 50
CAUSE_CHARS = 80
_ATTEMPTS = re.compile(r"\s*\(gave up after \d+ attempts\)$")
_DETAIL = re.compile(r"; | \(")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBERED = re.compile(r"[\w./:-]*\d[\w./:-]*")


@dataclass(frozen=True)
class Span:
    """The range asked for: `buckets` buckets of `bucket_s` seconds from `start`; rows from
    `start` up to `end` (the last bucket may reach past it); of `pipelines` (empty: all)."""

    start: float
    end: float
    bucket_s: int
    buckets: int
    pipelines: tuple[str, ...] = ()

    def bucket(self, at: float) -> int:
        """The bucket of a moment in the range (one a hair before `end` may round up: the last)."""
        return min(int((at - self.start) // self.bucket_s), self.buckets - 1)


class Delivery(NamedTuple):
    pipeline: str
    size: int
    created_at: float
    delivered_at: float


class Failure(NamedTuple):
    pipeline: str
    error: str
    at: float


@dataclass
class Tally:
    """What happened in one bucket or over the range, of one pipeline or of all."""

    deliveries: int = 0
    bytes: int = 0
    failures: int = 0
    latencies_s: list[float] = field(default_factory=list)
    median_s: float = 0.0  # of the time to Frame.io, once settled; 0 without deliveries
    p95_s: float = 0.0

    def delivered(self, row: Delivery) -> None:
        self.deliveries += 1
        self.bytes += row.size
        self.latencies_s.append(max(0.0, row.delivered_at - row.created_at))

    def settle(self) -> None:
        self.latencies_s.sort()
        self.median_s, self.p95_s = percentile(self.latencies_s, 0.5), percentile(self.latencies_s, 0.95)


@dataclass
class Group:
    """The tally of everything, and of each pipeline."""

    all: Tally = field(default_factory=Tally)
    pipelines: dict[str, Tally] = field(default_factory=dict)

    def tallies(self, pipeline: str) -> Iterator[Tally]:
        yield self.all
        yield self.pipelines.setdefault(pipeline, Tally())

    def settle(self) -> None:
        for tally in (self.all, *self.pipelines.values()):
            tally.settle()


@dataclass(frozen=True)
class Cause:
    cause: str
    pipeline: str
    count: int
    example: str  # the newest such error, whole
    last_at: float


@dataclass(frozen=True)
class Report:
    buckets: list[Group]  # one a bucket of the span, in order
    overall: Group
    causes: list[Cause]  # most frequent first
    capped: bool


class History:
    def __init__(self, ledger: Ledger, max_rows: int = MAX_ROWS) -> None:
        self.ledger = ledger
        self.max_rows = max_rows

    async def report(self, span: Span) -> Report:
        deliveries, failures, capped = await self.ledger.run(self._read, span)
        return await asyncio.to_thread(summarize, span, deliveries, failures, capped)

    def _read(self, span: Span) -> tuple[list[Delivery], list[Failure], bool]:
        among = f" AND pipeline IN ({','.join('?' * len(span.pipelines))})" if span.pipelines else ""
        bounds = [span.start, span.end, *span.pipelines, self.max_rows + 1]
        db = self.ledger.db
        deliveries = [Delivery(*row) for row in db.execute(
            "SELECT pipeline, size, created_at, delivered_at FROM jobs"
            f" WHERE delivered_at >= ? AND delivered_at < ? AND state = {DONE}{among}"
            " ORDER BY delivered_at DESC LIMIT ?", bounds)]
        failures = [Failure(*row) for row in db.execute(
            "SELECT pipeline, error, updated_at FROM jobs"
            f" WHERE state = {FAILED} AND updated_at >= ? AND updated_at < ?{among}"
            " ORDER BY updated_at DESC LIMIT ?", bounds)]
        capped = len(deliveries) > self.max_rows or len(failures) > self.max_rows
        return deliveries[:self.max_rows], failures[:self.max_rows], capped


def summarize(span: Span, deliveries: Sequence[Delivery], failures: Sequence[Failure], capped: bool) -> Report:
    """The tallies of rows read newest first."""
    buckets = [Group() for _ in range(span.buckets)]
    overall = Group()
    for delivery in deliveries:
        for tally in (*buckets[span.bucket(delivery.delivered_at)].tallies(delivery.pipeline),
                      *overall.tallies(delivery.pipeline)):
            tally.delivered(delivery)
    for failure in failures:
        for tally in (*buckets[span.bucket(failure.at)].tallies(failure.pipeline), *overall.tallies(failure.pipeline)):
            tally.failures += 1
    for group in (*buckets, overall):
        group.settle()
    return Report(buckets, overall, failure_causes(failures), capped)


def failure_causes(failures: Sequence[Failure]) -> list[Cause]:
    """Failures (newest first) by pipeline and cause, most frequent first, at most MAX_CAUSES."""
    counts: dict[tuple[str, str], int] = {}
    newest: dict[tuple[str, str], Failure] = {}
    for failure in failures:
        key = (failure.pipeline, failure_cause(failure.error))
        counts[key] = counts.get(key, 0) + 1
        newest.setdefault(key, failure)
    ranked = sorted(counts, key=lambda key: (-counts[key], -newest[key].at, key))
    return [Cause(cause, pipeline, counts[pipeline, cause], newest[pipeline, cause].error,
                  newest[pipeline, cause].at) for pipeline, cause in ranked[:MAX_CAUSES]]


def failure_cause(error: str) -> str:
    """The error without its details (see the module's docstring)."""
    text = _DETAIL.split(_ATTEMPTS.sub("", error.strip()), maxsplit=1)[0]
    text = " ".join(_NUMBERED.sub("N", _QUOTED.sub("…", text)).split())
    if len(text) > CAUSE_CHARS:
        text = text[:CAUSE_CHARS - 1].rstrip() + "…"
    return text or "unknown"


def percentile(ordered: Sequence[float], q: float) -> float:
    """The `q` quantile of sorted values, interpolated between the closest ranks; 0 for none."""
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
