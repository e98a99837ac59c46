"""A delivered file's media timing (frame rate, start timecode, length) and review status.

`timing_of(job)` is what the review loop calls, once per file (the answer is kept): ffprobe on
the source when it is still there and ffprobe is installed, else Frame.io's metadata, else
postflow.markers.timing's DEFAULT_TIMING.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from frameio.types import MetadataField

from postflow.markers.probe import probe_timing
from postflow.markers.timing import DEFAULT_TIMING as DEFAULT_MEDIA_TIMING
from postflow.markers.timing import timing_from_metadata
from postflow.v1 import watcher_pb2
from services.watcher.jobs import Job
from services.watcher.review.clients import ReviewClients

TimingOf = Callable[[Job], Awaitable[watcher_pb2.MediaTiming]]
SourceOf = Callable[[Job], Awaitable[Path | None]]

STATUS_FIELD = "Status"
DEFAULT_TIMING = DEFAULT_MEDIA_TIMING.to_proto()


def field_values(fields: Sequence[MetadataField]) -> dict[str, Any]:
    return {field.field_definition_name: field.value for field in fields}


def review_status(fields: Sequence[MetadataField]) -> str:
    """The value of the select field "Status" ("" when none is chosen, or there is no such field)."""
    chosen = field_values(fields).get(STATUS_FIELD)
    if isinstance(chosen, list) and chosen:
        return str(getattr(chosen[0], "display_name", "") or "")
    return ""


def media_timing(clients: ReviewClients, source_of: SourceOf | None = None) -> TimingOf:
    """`timing_of`: ffprobe on the source where `source_of` finds it, else the file's metadata on Frame.io."""
    async def timing_of(job: Job) -> watcher_pb2.MediaTiming:
        source = await source_of(job) if source_of is not None else None
        if source is not None and (probed := await probe_timing(source)) is not None:
            return probed.to_proto()
        metadata = await clients.review(job.connection).show_metadata(await clients.account_of(job), job.file_id)
        timing = timing_from_metadata(metadata.metadata)
        return DEFAULT_TIMING if timing is None else timing.to_proto()
    return timing_of
