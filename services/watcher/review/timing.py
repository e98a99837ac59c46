"""A delivered file's media timing (frame rate, start timecode, length) and review status, as
Frame.io's metadata tells them.

`timing_of(job)` is what the review loop calls, once per file (the answer is kept): this one
reads Frame.io's metadata; one that asks ffprobe first, when the source is still there, takes
its place without anything else changing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from frameio.types import MetadataField

from postflow.markers.timecode import Rate, from_timecode
from postflow.v1 import watcher_pb2
from services.watcher.jobs import Job
from services.watcher.review.clients import ReviewClients

TimingOf = Callable[[Job], Awaitable[watcher_pb2.MediaTiming]]

STATUS_FIELD = "Status"
DEFAULT_TIMING = watcher_pb2.MediaTiming(rate_numerator=24, rate_denominator=1, source="default")


def field_values(fields: Sequence[MetadataField]) -> dict[str, Any]:
    return {field.field_definition_name: field.value for field in fields}


def review_status(fields: Sequence[MetadataField]) -> str:
    """The value of the select field "Status" ("" when none is chosen, or there is no such field)."""
    chosen = field_values(fields).get(STATUS_FIELD)
    if isinstance(chosen, list) and chosen:
        return str(getattr(chosen[0], "display_name", "") or "")
    return ""


def timing_from_metadata(fields: Sequence[MetadataField]) -> watcher_pb2.MediaTiming:
    """From "Frame Rate" (a number), "Start Timecode" (text, ';' before the frames when drop-frame)
    and "Duration" (a number of seconds); DEFAULT_TIMING when the frame rate is not known (yet)."""
    values = field_values(fields)
    fps, start, seconds = values.get("Frame Rate"), str(values.get("Start Timecode") or ""), values.get("Duration")
    if not isinstance(fps, (int, float)) or fps <= 0:
        return DEFAULT_TIMING
    try:
        rate = Rate.from_fps(fps, drop_frame=";" in start)
    except ValueError:  # a ';' at a rate without drop-frame
        rate = Rate.from_fps(fps)
    try:
        start_frame = from_timecode(start, rate) if start else 0
    except ValueError:
        start_frame = 0
    duration = round(seconds * rate.fps) if isinstance(seconds, (int, float)) and seconds > 0 else 0
    return watcher_pb2.MediaTiming(rate_numerator=rate.numerator, rate_denominator=rate.denominator,
                                   drop_frame=rate.drop_frame, start_frame=start_frame,
                                   duration_frames=duration, source="frameio")


def frameio_timing(clients: ReviewClients) -> TimingOf:
    """`timing_of` from the file's metadata on Frame.io."""
    async def timing_of(job: Job) -> watcher_pb2.MediaTiming:
        metadata = await clients.review(job.connection).show_metadata(await clients.account_of(job), job.file_id)
        return timing_from_metadata(metadata.metadata)
    return timing_of
