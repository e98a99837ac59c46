"""Pacing Frame.io calls under its rate limits, so a 429 stays rare.

Frame.io counts calls in a leaky bucket per account and call family: `limit` calls fill the
bucket, and it drains continuously, one call every `window / limit`. Each answer carries
`x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-window` (milliseconds); a
`Retry-After` is not documented, but is honoured when it comes.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from postflow.core.backoff import backoff_delay
from postflow.core.fair import FairTurns

# Frame.io's documented limits, (calls, per seconds), by call family.
RATE_LIMITS: Mapping[str, tuple[int, float]] = {
    "upload": (5, 1.0),
    "folder_create": (3, 1.0),
    "project_create": (10, 60.0),
    "show": (10, 1.0),
    "status": (5, 1.0),
    "version_stack": (10, 60.0),
    "list": (100, 60.0),
    "comment_list": (100, 60.0),
    "comment_show": (100, 60.0),
    "metadata_show": (100, 60.0),
    "comment_create": (100, 60.0),
    "webhook_change": (10, 60.0),
    "other": (100, 60.0),
}


@dataclass(frozen=True)
class BucketReport:
    """What one answer's `x-ratelimit-*` headers said about the bucket."""

    limit: int
    remaining: int
    window_s: float


def bucket_report(headers: Mapping[str, str] | None) -> BucketReport | None:
    """The `x-ratelimit-*` headers of an answer, or None when any is missing or malformed."""
    lowered = {k.lower(): v.strip() for k, v in (headers or {}).items()}
    values = [lowered.get(f"x-ratelimit-{name}", "") for name in ("limit", "remaining", "window")]
    if not all(value.isdigit() for value in values):
        return None
    limit, remaining, window_ms = (int(value) for value in values)
    if limit < 1:
        return None
    return BucketReport(limit, remaining, window_ms / 1000)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """How long an answer asks us to wait with `Retry-After` (seconds or a date), if it does."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    value = (lowered.get("retry-after") or "").strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # neither seconds nor a date
        return None
    return max(0.0, parsed.timestamp() - time.time())


class RateLimiter:
    """Paces one call family of one account (a FrameioClient holds one per family; PostFlow
    connects one account).

    Two checks, both must pass before a call goes out:
    - the documented limit, as at most `calls` in any window of `per_s` seconds (padded a
      little for the time a request takes to arrive). A leaky bucket of that size admits
      everything this admits, so it is never looser, whatever else the bucket says.
    - the bucket as the last answer reported it: `remaining` slots then, one more every
      `window / limit` since, less the calls sent since or still unanswered. This catches a
      budget shared with other clients of the same account, or a limit stricter than
      documented, before Frame.io answers 429.
    After a 429 the whole family pauses (`pause`): the bucket is full for every caller.
    Callers waiting for the pace take turns by share (postflow.core.fair: the watcher's
    pipelines), so one pipeline's burst does not queue another's first call behind it.
    """

    def __init__(self, calls: int, per_s: float, clock: Callable[[], float] = time.monotonic,
                 margin: float = 0.05, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.calls = calls
        self.window_s = per_s * (1 + margin)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._turns = FairTurns()
        self.bucket_size = calls
        self.slot_s = per_s / calls  # one call drains from the bucket every slot_s
        self._room: float | None = None  # free slots at _room_at, once an answer reported them
        self._room_at = 0.0
        self._unanswered = 0
        self._paused_until = 0.0

    async def acquire(self) -> float:
        """Waits until one more call fits, and counts it as sent (call `answered` after).
        Returns how long it waited for the pace (0: it went at once)."""
        asked = self._clock()
        held_back = self._turns.busy  # behind a call that waits for the pace
        async with self._turns.turn():
            while (wait_s := self._wait_s(self._clock())) > 0:
                held_back = True
                await self._sleep(wait_s)
            now = self._clock()
            self._sent.append(now)
            room = self._room_now(now)
            if room is not None:
                self._room, self._room_at = room - 1, now
            self._unanswered += 1
        return now - asked if held_back else 0.0

    def answered(self, headers: Mapping[str, str] | None) -> None:
        """A call counted by `acquire` is over; `headers` are its answer's (None: no answer)."""
        self._unanswered = max(0, self._unanswered - 1)
        report = bucket_report(headers)
        if report is None:
            return
        self.bucket_size = report.limit
        self.slot_s = report.window_s / report.limit
        # Calls still in flight may or may not be counted in `remaining`: assume they are not.
        self._room, self._room_at = float(report.remaining - self._unanswered), self._clock()

    def pause(self, delay_s: float) -> None:
        """No call of this family goes out for `delay_s` seconds."""
        self._paused_until = max(self._paused_until, self._clock() + delay_s)

    def rate_limited_wait_s(self, attempt: int, headers: Mapping[str, str] | None,
                            rng: Callable[[], float]) -> float:
        """How long to wait after the `attempt`-th 429 in a row: `Retry-After` when given, else
        one slot (window / limit) for the bucket to drain, drawn from one to two slots and
        doubling while 429s repeat, never more than the whole window (the bucket is empty by then)."""
        asked_s = retry_after_s(headers)
        if asked_s is not None:
            return asked_s
        window_s = self.slot_s * self.bucket_size
        return backoff_delay(attempt, 2 * self.slot_s, max(window_s, 2 * self.slot_s), jitter=0.5, rng=rng)

    def _wait_s(self, now: float) -> float:
        waits = [self._paused_until - now]
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()
        if len(self._sent) >= self.calls:
            waits.append(self._sent[0] + self.window_s - now)
        room = self._room_now(now)
        if room is not None and room < 1 - 1e-9:
            waits.append((1 - room) * self.slot_s)
        return max(waits)

    def _room_now(self, now: float) -> float | None:
        if self._room is None:
            return None
        if self.slot_s <= 0:
            return float(self.bucket_size)
        return min(float(self.bucket_size), self._room + (now - self._room_at) / self.slot_s)
