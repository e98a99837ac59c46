"""Markers as FCPXML 1.10 (Final Cut Pro, DaVinci Resolve): the media as an asset, a project
whose sequence holds it as one asset-clip from its start timecode, and a to-do marker on the
clip for each comment (`completed="1"` once done on Frame.io).

Times are rational seconds, each a whole number of frames: FCPXML's own way of writing them
(frames × frameDuration over its denominator, "86486400/24000s", or whole seconds, "3600s").
A marker's start is in the clip's source time: (start_frame + frame) × frameDuration."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from fractions import Fraction
from urllib.parse import quote

from postflow.markers.model import Marker
from postflow.markers.timing import MediaTiming
from postflow.markers.xmldoc import element, xml_document

VERSION = "1.10"


def rational(frames: int, frame_duration: Fraction) -> str:
    """`frames` frames as FCPXML time: "0s", "3600s", "1001/24000s", "86486400/24000s"."""
    seconds = frames * frame_duration
    if seconds.denominator == 1:
        return f"{seconds.numerator}s"
    return f"{frames * frame_duration.numerator}/{frame_duration.denominator}s"


def extent(markers: Sequence[Marker], timing: MediaTiming) -> int:
    """The media's frames; when not known, up to the end of the last marker."""
    if timing.duration_frames:
        return timing.duration_frames
    return max((marker.frame + marker.length for marker in markers), default=1)


def render_fcpxml(markers: Sequence[Marker], timing: MediaTiming, title: str) -> str:
    step = timing.rate.frame_duration
    start, duration = rational(timing.start_frame, step), rational(extent(markers, timing), step)
    tc_format = "DF" if timing.rate.drop_frame else "NDF"
    root = ET.Element("fcpxml", version=VERSION)
    resources = element(root, "resources")
    element(resources, "format", id="r1", frameDuration=rational(1, step))
    asset = element(resources, "asset", id="r2", name=title, start=start, duration=duration, hasVideo="1",
                    format="r1")
    element(asset, "media-rep", kind="original-media", src=quote(title))
    event = element(element(root, "library"), "event", name=title)
    sequence = element(element(event, "project", name=f"{title} comments"), "sequence", format="r1",
                       duration=duration, tcStart=start, tcFormat=tc_format)
    clip = element(element(sequence, "spine"), "asset-clip", ref="r2", name=title, offset=start, start=start,
                   duration=duration, tcFormat=tc_format)
    for marker in markers:
        element(clip, "marker", start=rational(timing.start_frame + marker.frame, step),
                duration=rational(marker.length, step), value=marker.one_line, note=marker.details,
                completed="1" if marker.completed else "0")
    return xml_document(root, "fcpxml")
