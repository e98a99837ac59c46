"""Timecode round trips, drop-frame included, over many frames."""

from __future__ import annotations

import random

import pytest

from postflow.markers.timecode import Rate, from_timecode, to_timecode

DF_2997 = Rate(30000, 1001, drop_frame=True)
DF_5994 = Rate(60000, 1001, drop_frame=True)


@pytest.mark.parametrize("rate", [DF_2997, DF_5994, Rate(24000, 1001), Rate(25)])
def test_every_frame_round_trips_and_timecodes_only_grow(rate: Rate) -> None:
    day = 24 * 60 * (60 * rate.nominal) - 24 * 54 * rate.dropped  # frames a day: DF drops in 54 minutes an hour
    frames = list(range(0, 20_000)) + random.Random(20).sample(range(day), 20_000)
    for frame in frames:
        text = to_timecode(frame, rate)
        assert from_timecode(text, rate) == frame, text
    texts = [to_timecode(frame, rate) for frame in range(40_000)]
    assert texts == sorted(texts) and len(set(texts)) == len(texts)


def test_drop_frame_skips_two_numbers_each_minute_but_every_tenth() -> None:
    start = from_timecode("01:00:00;00", DF_2997)
    assert start == 107892
    assert to_timecode(start + 1799, DF_2997) == "01:00:59;29"
    assert to_timecode(start + 1800, DF_2997) == "01:01:00;02"
    assert to_timecode(from_timecode("01:09:59;29", DF_2997) + 1, DF_2997) == "01:10:00;00"
    with pytest.raises(ValueError, match="does not exist in drop-frame"):
        from_timecode("01:01:00;01", DF_2997)


@pytest.mark.parametrize("text", ["24:00:00:00", "01:60:00:00", "01:00:60:00", "01:00:00:25", "1:00", "01:00:00"])
def test_a_timecode_that_cannot_be_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match=text):
        from_timecode(text, Rate(25))
