"""Small conversions between protobuf messages and plain Python values."""

from __future__ import annotations

import time

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(seconds: float | None = None) -> Timestamp:
    """A Timestamp of epoch `seconds` (now when None)."""
    stamp = Timestamp()
    stamp.FromNanoseconds(time.time_ns() if seconds is None else int(seconds * 1e9))
    return stamp


def to_seconds(stamp: Timestamp) -> float:
    """Epoch seconds of a Timestamp."""
    return stamp.ToNanoseconds() / 1e9


def label(enum: EnumTypeWrapper, value: int) -> str:
    """An enum value's name without the enum's prefix, lower case: `JOB_STATE_DONE` → `done`.
    The prefix is that of the enum's zero value, `<PREFIX>_UNSPECIFIED` in every PostFlow proto."""
    prefix = enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")
    return enum.Name(value).removeprefix(prefix).lower()
