"""Timestamps and enum labels."""

from __future__ import annotations

import time

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from postflow.core.protos import label, timestamp, to_seconds
from postflow.v1 import auth_pb2, common_pb2, streamer_pb2, watcher_pb2


def test_a_timestamp_keeps_its_seconds():
    stamp = timestamp(1_700_000_000.25)
    assert stamp.seconds == 1_700_000_000 and stamp.nanos == pytest.approx(250_000_000, abs=1000)
    assert to_seconds(stamp) == pytest.approx(1_700_000_000.25, abs=1e-6)


def test_a_timestamp_without_seconds_is_now():
    before = time.time()
    stamp = timestamp()
    assert before <= to_seconds(stamp) <= time.time()


def test_labels_drop_the_enum_prefix_and_are_lower_case():
    assert label(common_pb2.JobState, common_pb2.JOB_STATE_DONE) == "done"
    assert label(streamer_pb2.TransferPhase, streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED) == "source_changed"
    assert label(auth_pb2.AuthState, auth_pb2.AUTH_STATE_RECONNECT_NEEDED) == "reconnect_needed"


ENUMS = [value for module in (common_pb2, auth_pb2, streamer_pb2, watcher_pb2) for value in vars(module).values()
         if isinstance(value, EnumTypeWrapper)]


@pytest.mark.parametrize("enum", ENUMS, ids=lambda enum: enum.DESCRIPTOR.name)
def test_every_enum_of_the_api_has_its_prefix_on_the_zero_value(enum):
    """What `label` relies on: `<PREFIX>_UNSPECIFIED = 0`, the prefix shared by every value."""
    zero = enum.DESCRIPTOR.values_by_number[0].name
    assert zero.endswith("_UNSPECIFIED")
    prefix = zero.removesuffix("UNSPECIFIED")
    assert all(name.startswith(prefix) for name in enum.keys())
    assert label(enum, 0) == "unspecified"


def test_an_unknown_value_is_refused():
    with pytest.raises(ValueError):
        label(common_pb2.JobState, 999)
