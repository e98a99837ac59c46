"""Where a file's timecode starts, how fast it runs and how long it is: what turns Frame.io's
frame counts into timecode. Known from ffprobe (postflow.markers.probe) or from Frame.io's
metadata fields; failing both, 25 fps from 00:00:00:00 (`DEFAULT_TIMING`): a file without a
timecode track starts at 00:00:00:00 in every editing application, and 25 fps is only a guess,
which the timing says (`source="default"`) and `postflow markers` tells on stderr."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from postflow.markers.timecode import Rate, from_timecode, to_timecode
from postflow.v1 import watcher_pb2

# Frame.io's file metadata fields (MetadataWithDefinition.metadata) that tell the timing.
FRAME_RATE_FIELD = "Frame Rate"  # a number: 23.976, 25, 29.97
START_TIMECODE_FIELD = "Start Timecode"  # text: 01:00:00:00, or 01:00:00;00 for drop-frame
DURATION_FIELD = "Duration"  # a number of seconds


@dataclass(frozen=True)
class MediaTiming:
    rate: Rate
    start_frame: int = 0  # the start timecode, in frames
    duration_frames: int | None = None  # None: unknown
    source: str = "default"  # "ffprobe", "frameio" or "default"

    def timecode(self, frame: int) -> str:
        """The timecode of a frame counted from the start of the media."""
        return to_timecode(self.start_frame + frame, self.rate)

    def to_proto(self) -> watcher_pb2.MediaTiming:
        return watcher_pb2.MediaTiming(
            rate_numerator=self.rate.numerator, rate_denominator=self.rate.denominator,
            drop_frame=self.rate.drop_frame, start_frame=self.start_frame,
            duration_frames=self.duration_frames or 0, source=self.source)

    @classmethod
    def from_proto(cls, message: watcher_pb2.MediaTiming) -> MediaTiming:
        """The timing a Review carries; the default one when it carries none."""
        if message.rate_numerator <= 0:
            return DEFAULT_TIMING
        rate = Rate(message.rate_numerator, message.rate_denominator or 1, message.drop_frame)
        return cls(rate, message.start_frame, message.duration_frames or None, message.source or "default")


DEFAULT_TIMING = MediaTiming(Rate(25))


class MetadataValue(Protocol):
    """One of Frame.io's metadata fields, as the SDK gives them (MetadataField_Number, _Text, …)."""

    @property
    def field_definition_name(self) -> str: ...

    @property
    def value(self) -> object: ...


def timing_from_metadata(fields: Iterable[MetadataValue]) -> MediaTiming | None:
    """The timing Frame.io's metadata tells ("Frame Rate", "Start Timecode", "Duration"); None
    without a usable frame rate. A start timecode written with ';' is drop-frame."""
    values = {field.field_definition_name: field.value for field in fields if field.value not in (None, "")}
    try:
        fps = float(str(values[FRAME_RATE_FIELD]))
        start = str(values.get(START_TIMECODE_FIELD, "")).strip()
        rate = Rate.from_fps(fps, drop_frame=";" in start and round(fps) % 30 == 0)
        start_frame = from_timecode(start, rate) if start else 0
        seconds = float(str(values[DURATION_FIELD])) if DURATION_FIELD in values else None
    except (KeyError, ValueError):
        return None
    duration = round(seconds * rate.fps) if seconds is not None and seconds > 0 else None
    return MediaTiming(rate, start_frame, duration, "frameio")
