"""Markers as CSV, for a spreadsheet or a script: a header row, then a row a marker."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from postflow.markers.model import Marker
from postflow.markers.timing import MediaTiming

HEADER = ("timecode", "frame", "duration_frames", "author", "text", "completed", "link", "note")


def render_csv(markers: Sequence[Marker], timing: MediaTiming, title: str) -> str:
    """`title` is not written: a CSV has no place for it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for marker in markers:
        writer.writerow((timing.timecode(marker.frame), marker.frame, marker.duration_frames, lines(marker.author),
                         lines(marker.text), "yes" if marker.completed else "no", lines(marker.link),
                         lines(marker.note)))
    return out.getvalue()


def lines(text: str) -> str:
    """Line breaks as LF: the csv module quotes a field holding one, but leaves a lone CR bare
    when rows end in LF, and a reader takes that for the end of the row."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
