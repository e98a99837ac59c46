"""Each writer's output against the samples written by hand, and what an editing application
reads from them checked on its own: XML that parses, rational times that fall on frames, EDL
columns where CMX3600 puts them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest

from postflow.markers.files import RENDERERS, render_review
from postflow.markers.timing import MediaTiming
from postflow.v1 import watcher_pb2
from tests.markers.reviews import EXPECTED_FRAMES, EXPECTED_LENGTHS, REVIEWS, SAMPLES, comment

SUFFIXES = {"edl": "edl", "fcpxml": "fcpxml", "xmeml": "xml", "csv": "csv"}


@pytest.mark.parametrize("fmt", sorted(SUFFIXES))
@pytest.mark.parametrize("name", sorted(REVIEWS))
def test_output_is_the_sample_written_by_hand(name: str, fmt: str) -> None:
    expected = (SAMPLES / f"{name}.{SUFFIXES[fmt]}").read_text(encoding="utf-8")
    assert render_review(REVIEWS[name], fmt) == expected


def test_every_configured_format_has_a_writer() -> None:
    from postflow.core.review_config import MARKER_FORMATS

    assert tuple(RENDERERS) == MARKER_FORMATS


def seconds(value: str) -> Fraction:
    assert value.endswith("s"), value
    return Fraction(value[:-1])


@pytest.mark.parametrize("name", sorted(REVIEWS))
def test_fcpxml_times_are_rational_and_frame_accurate(name: str) -> None:
    review = REVIEWS[name]
    timing = MediaTiming.from_proto(review.timing)
    root = ET.fromstring(render_review(review, "fcpxml"))
    assert root.tag == "fcpxml" and root.get("version") == "1.10"
    frame_duration = seconds(root.find("resources/format").get("frameDuration"))
    assert frame_duration == 1 / timing.rate.fps

    def frames(value: str) -> int:
        count = seconds(value) / frame_duration
        assert count.denominator == 1, f"{value} is not on a frame"
        return count.numerator

    clip = root.find("library/event/project/sequence/spine/asset-clip")
    sequence = root.find("library/event/project/sequence")
    assert frames(sequence.get("tcStart")) == frames(clip.get("start")) == timing.start_frame
    assert sequence.get("tcFormat") == clip.get("tcFormat") == ("DF" if timing.rate.drop_frame else "NDF")
    assert frames(clip.get("duration")) == timing.duration_frames
    markers = clip.findall("marker")
    assert [frames(m.get("start")) - timing.start_frame for m in markers] == EXPECTED_FRAMES[name]
    assert [frames(m.get("duration")) for m in markers] == EXPECTED_LENGTHS[name]
    assert [m.get("completed") for m in markers] == ["0", "1", "0"]


@pytest.mark.parametrize("name", sorted(REVIEWS))
def test_xmeml_frames_and_timecode(name: str) -> None:
    review = REVIEWS[name]
    timing = MediaTiming.from_proto(review.timing)
    sequence = ET.fromstring(render_review(review, "xmeml")).find("sequence")
    assert int(sequence.findtext("rate/timebase")) == timing.rate.nominal
    assert sequence.findtext("rate/ntsc") == ("TRUE" if timing.rate.denominator == 1001 else "FALSE")
    assert int(sequence.findtext("timecode/frame")) == timing.start_frame
    assert sequence.findtext("timecode/string") == timing.timecode(0)
    markers = sequence.findall("marker")
    assert [int(m.findtext("in")) for m in markers] == EXPECTED_FRAMES[name]
    ends = [int(m.findtext("out")) for m in markers]
    assert [end - int(m.findtext("in")) if end != -1 else 1 for m, end in zip(markers, ends, strict=True)] \
        == EXPECTED_LENGTHS[name]


EVENT = re.compile(r"^(\d{3})  (.{8}) (.{4})  (.{4}) (.{3}) (\S{11}) (\S{11}) (\S{11}) (\S{11})$")


@pytest.mark.parametrize("name", sorted(REVIEWS))
def test_edl_events_keep_cmx3600_columns(name: str) -> None:
    review = REVIEWS[name]
    timing = MediaTiming.from_proto(review.timing)
    lines = render_review(review, "edl").splitlines()
    assert lines[1] == ("FCM: DROP FRAME" if timing.rate.drop_frame else "FCM: NON-DROP FRAME")
    events = [line for line in lines if line[:1].isdigit()]
    assert len(events) == 3
    for number, (line, frame, length) in enumerate(
            zip(events, EXPECTED_FRAMES[name], EXPECTED_LENGTHS[name], strict=True), start=1):
        match = EVENT.match(line)
        assert match, line
        assert int(line[0:3]) == number
        assert line[5:13].strip() == "001" and line[14:18].strip() == "V" and line[20:24].strip() == "C"
        source_in, source_out, record_in, record_out = line[29:40], line[41:52], line[53:64], line[65:76]
        assert source_in == record_in == timing.timecode(frame)
        assert source_out == record_out == timing.timecode(frame + length)
        following = lines[lines.index(line) + 1: lines.index(line) + 3]
        assert following[0].startswith(f"* LOC: {record_in} ")
        assert re.search(rf" \|C:ResolveColor(Blue|Green|Red) \|M:.+ \|D:{length}$", following[1])


def test_a_comment_without_timecode_is_at_the_first_frame_with_a_note() -> None:
    review = REVIEWS["25"]
    untimed = watcher_pb2.Review(job=review.job, timing=review.timing,
                                 comments=[comment(1, -1, "General note | on the cut", "Ann")])
    row = render_review(untimed, "csv").splitlines()[1]
    assert row.startswith("10:00:00:00,0,0,Ann,") and row.endswith(",no timecode on Frame.io")
    edl = render_review(untimed, "edl")
    expected = ("Ann; no timecode on Frame.io; https://next.frame.io/c1 "
                "|C:ResolveColorRed |M:General note / on the cut |D:1")
    assert expected in edl.splitlines()


def test_without_timing_the_default_is_said() -> None:
    untimed = watcher_pb2.Review(comments=[comment(1, 50, "Note", "Ann")])
    untimed.job.path = "x.mov"
    assert "00:00:02:00,50," in render_review(untimed, "csv")  # 25 fps from 00:00:00:00
    assert MediaTiming.from_proto(untimed.timing).source == "default"


def test_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown marker format 'aaf'"):
        render_review(REVIEWS["25"], "aaf")


@pytest.mark.parametrize("fmt", ["fcpxml", "xmeml"])
def test_control_characters_in_a_comment_leave_the_xml_well_formed(fmt: str) -> None:
    noisy = watcher_pb2.Review(job=REVIEWS["25"].job, timing=REVIEWS["25"].timing,
                               comments=[comment(1, 10, "Bell\x07 here\x00,\x1b[0m\ttab\nline", "A\x01nn")])
    noisy.job.path = "clip\x02.mov"
    root = ET.fromstring(render_review(noisy, fmt).split("\n", 2)[2])
    texts = [value for element in root.iter() for value in (element.text or "", *element.attrib.values())]
    assert any("Bell here,[0m tab line" in text for text in texts)
    assert any("Ann" in text for text in texts) and any("clip.mov" in text for text in texts)


def test_a_carriage_return_in_a_comment_stays_inside_its_csv_field() -> None:
    import csv
    import io

    review = watcher_pb2.Review(job=REVIEWS["25"].job, timing=REVIEWS["25"].timing,
                                comments=[comment(1, 10, "old Mac\rline, \"quoted\"\r\nand Windows", "Ann")])
    rows = list(csv.reader(io.StringIO(render_review(review, "csv"), newline="")))
    assert len(rows) == 2 and rows[1][4] == "old Mac\nline, \"quoted\"\nand Windows"
