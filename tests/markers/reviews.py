"""The three reviews the hand-written samples in samples/ were written for: a 23.976 file from
01:00:00:00, a 25 file from 10:00:00:00 and a 29.97 drop-frame file from 01:00:00;00, each
with an open comment, a completed one and one outside the media (comments oldest first, not in
the media's order)."""

from __future__ import annotations

from pathlib import Path

from postflow.markers.timecode import Rate
from postflow.markers.timing import MediaTiming
from postflow.v1 import common_pb2, watcher_pb2

SAMPLES = Path(__file__).parent / "samples"


def comment(number: int, frame: int, text: str, author: str, duration: int = 0,
            completed: bool = False) -> watcher_pb2.ReviewComment:
    return watcher_pb2.ReviewComment(id=f"c{number}", frame=frame, duration_frames=duration, text=text, author=author,
                                     completed=completed, link=f"https://next.frame.io/c{number}")


def review(path: str, timing: MediaTiming, comments: list[watcher_pb2.ReviewComment]) -> watcher_pb2.Review:
    return watcher_pb2.Review(job=common_pb2.Job(id="0123456789abcdef", path=path, pipeline="default"),
                              comments=comments, timing=timing.to_proto())


# name of the samples -> (review, start timecode's frame count, duration)
REVIEWS = {
    "23976": review("day1/A001_C003.mov", MediaTiming(Rate(24000, 1001), 86400, 240, "ffprobe"), [
        comment(1, 36, "Flash frame here", "Anna Berg"),
        comment(3, 300, "Titles need a fix & a check <now>", "Cleo Park"),
        comment(2, 120, "Lower the music", "Ben Ode", duration=48, completed=True)]),
    "25": review("B002_C010.mxf", MediaTiming(Rate(25), 900000, 250, "frameio"), [
        comment(4, 0, "Grade too warm", "Dana Ruiz"),
        comment(5, 130, "Cut the breath", "Eli Moss", duration=25, completed=True),
        comment(6, 250, 'Logo "safe" area', "Fay Lin")]),
    "2997df": review("cam/C003_C020.mov", MediaTiming(Rate(30000, 1001, drop_frame=True), 107892, 2400, "ffprobe"), [
        comment(8, 1800, "Sync slips", "Hana Vo", completed=True),
        comment(7, 1799, "Boom in frame", "Gil Ono", duration=2),
        comment(9, 5000, "Colour shift after the dissolve", "Ivo Sá")]),
}

# the frame each sample's markers are at, from the start of the media, in the media's order
EXPECTED_FRAMES = {"23976": [36, 120, 239], "25": [0, 130, 249], "2997df": [1799, 1800, 2399]}
EXPECTED_LENGTHS = {"23976": [1, 48, 1], "25": [1, 25, 1], "2997df": [2, 1, 1]}
