"""Markers as a CMX3600 EDL: one one-frame (or comment-long) event a marker, at the marker's
timecode on both source and record side (the record side starts at the media's start
timecode), each with two comment lines:

    001  001      V     C        01:00:00:10 01:00:00:11 01:00:00:10 01:00:00:11
    * LOC: 01:00:00:10 BLUE    Fix the flash
    Anna Berg |C:ResolveColorBlue |M:Fix the flash |D:1

`* LOC:` is the locator of Avid and most EDL readers (timecode, colour left-aligned in seven
columns, text); the next line is the one DaVinci Resolve writes and reads for a timeline
marker (note, then colour, name and duration in frames after '|'). The event line keeps
CMX3600's columns (as Resolve and Avid write them): event 1–3, reel 6–13, channels 15–18, edit
21–24, transition 26–28, source in/out 30–40/42–52, record in/out 54–64/66–76."""

from __future__ import annotations

from collections.abc import Sequence

from postflow.markers.model import Marker
from postflow.markers.timing import MediaTiming

REEL = "001"
MAX_EVENTS = 999  # three digits; beyond, the numbers start again at 001
TITLE_LENGTH = 70


def colour(marker: Marker) -> str:
    """Green when done, red when moved (it is not where the reviewer put it), else blue."""
    if marker.completed:
        return "GREEN"
    return "RED" if marker.note else "BLUE"


def event_line(number: int, marker: Marker, timing: MediaTiming) -> str:
    start, end = timing.timecode(marker.frame), timing.timecode(marker.frame + marker.length)
    return f"{number:03d}  {REEL:<8} {'V':<4}  {'C':<4} {'':>3} {start} {end} {start} {end}"


def resolve_line(marker: Marker) -> str:
    """Resolve's marker line; '|' ends a field there, so none is left in the text."""
    name, note = (text.replace("|", "/") for text in (marker.one_line, " ".join(marker.details.split())))
    return f"{note} |C:ResolveColor{colour(marker).title()} |M:{name} |D:{marker.length}"


def render_edl(markers: Sequence[Marker], timing: MediaTiming, title: str) -> str:
    drop = "DROP FRAME" if timing.rate.drop_frame else "NON-DROP FRAME"
    lines = [f"TITLE: {' '.join(title.split())[:TITLE_LENGTH]}", f"FCM: {drop}", ""]
    for index, marker in enumerate(markers):
        lines += [event_line(index % MAX_EVENTS + 1, marker, timing),
                  f"* LOC: {timing.timecode(marker.frame)} {colour(marker):<7} {marker.one_line}",
                  resolve_line(marker), ""]
    return "\n".join(lines)
