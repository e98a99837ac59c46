"""The range a history covers (GetHistory, the dashboard's /api/history): fixed-length buckets
counted from its start, and how many of them one answer may hold. The watcher and the
dashboard check a range alike, each naming its own parameters."""

from __future__ import annotations

import math

from postflow.core.errors import InvalidArgument
from postflow.v1 import watcher_pb2

HOUR, DAY = watcher_pb2.HISTORY_BUCKET_SIZE_HOUR, watcher_pb2.HISTORY_BUCKET_SIZE_DAY
BUCKET_S: dict[int, int] = {HOUR: 3600, DAY: 86400}
BUCKET_NAMES = {"hour": HOUR, "day": DAY}
MAX_BUCKETS = 1000


def bucket_seconds(bucket: int, name: str) -> int:
    """How long a bucket of this size is; InvalidArgument naming `name` when there is no such size."""
    if bucket not in BUCKET_S:
        raise InvalidArgument(f"{name}: expected hour or day")
    return BUCKET_S[bucket]


def bucket_count(start: float, end: float, bucket_s: int, names: tuple[str, str]) -> int:
    """How many buckets of `bucket_s` seconds cover `start` to `end` (the last may reach past
    `end`); InvalidArgument naming the parameter at fault (`names`: what start and end are
    called where they were given)."""
    first, last = names
    if end <= start:
        raise InvalidArgument(f"{last}: must be after {first}")
    count = math.ceil((end - start) / bucket_s)
    if count > MAX_BUCKETS:
        raise InvalidArgument(f"{last}: at most {MAX_BUCKETS} buckets of {bucket_s}s after {first}, got {count}; "
                              "choose a shorter range or a larger bucket")
    return count
