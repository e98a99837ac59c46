"""Markers as Final Cut Pro 7 XML (xmeml version 4), which Premiere Pro imports: a sequence
as long as the media, starting at its start timecode, with a marker for each comment. A
marker's in and out are frames from the start of the sequence; out -1 is a point."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from postflow.markers.fcpxml import extent
from postflow.markers.model import Marker
from postflow.markers.timing import MediaTiming
from postflow.markers.xmldoc import element, xml_document

VERSION = "4"


def add_rate(parent: ET.Element, timing: MediaTiming) -> None:
    """xmeml's rate: whole frames per timecode second, NTSC when it runs 1000/1001 slower."""
    rate = element(parent, "rate")
    element(rate, "timebase", timing.rate.nominal)
    element(rate, "ntsc", "TRUE" if timing.rate.denominator == 1001 else "FALSE")


def render_xmeml(markers: Sequence[Marker], timing: MediaTiming, title: str) -> str:
    root = ET.Element("xmeml", version=VERSION)
    sequence = element(root, "sequence", id="sequence-1")
    element(sequence, "name", title)
    element(sequence, "duration", extent(markers, timing))
    add_rate(sequence, timing)
    timecode = element(sequence, "timecode")
    add_rate(timecode, timing)
    element(timecode, "string", timing.timecode(0))
    element(timecode, "frame", timing.start_frame)
    element(timecode, "displayformat", "DF" if timing.rate.drop_frame else "NDF")
    element(element(element(sequence, "media"), "video"), "track")
    for marker in markers:
        tag = element(sequence, "marker")
        element(tag, "name", marker.one_line)
        element(tag, "comment", marker.details)
        element(tag, "in", marker.frame)
        element(tag, "out", marker.frame + marker.duration_frames if marker.duration_frames else -1)
    return xml_document(root, "xmeml")
