"""Where the review loop takes a delivered file's timing from: ffprobe on the source while it is
there as delivered (a real 29.97 drop-frame file made with ffmpeg), Frame.io's metadata when it
is not, the default when Frame.io knows no frame rate either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.watcher.jobs import DONE, Job
from services.watcher.review.timing import DEFAULT_TIMING, media_timing
from tests.markers.test_timing import make_media
from tests.watcher.review_fakes import FakeClients, FakeFrameio

JOB = Job(id="j1", path="SQ01/shot.mov", size=1, mtime_ns=1, state=DONE, max_attempts=5, created_at=0.0,
          updated_at=0.0, file_id="F1")


def fields(timing: Any) -> tuple:
    return (timing.rate_numerator, timing.rate_denominator, timing.drop_frame, timing.start_frame,
            timing.duration_frames, timing.source)


@pytest.mark.asyncio
async def test_ffprobe_on_the_source_first_then_frameio_then_the_default(tmp_path: Path) -> None:
    media = await make_media(tmp_path / "shot.mov", "30000/1001", "01:00:00;00")
    frameio = FakeFrameio(fps=25.0, start="10:00:00:00")
    sources: dict[str, Path | None] = {"j1": media}

    async def source_of(job: Job) -> Path | None:
        return sources[job.id]

    timing_of = media_timing(FakeClients(frameio), source_of)  # type: ignore[arg-type]
    assert fields(await timing_of(JOB)) == (30000, 1001, True, 107892, 30, "ffprobe")
    assert not [call for call in frameio.calls if call.startswith("show_metadata")]

    sources["j1"] = None  # moved away or changed since: Frame.io's metadata
    assert fields(await timing_of(JOB)) == (25, 1, False, 900000, 1500, "frameio")
    (tmp_path / "other.mov").write_text("not a movie")
    sources["j1"] = tmp_path / "other.mov"  # ffprobe cannot read it: Frame.io's metadata
    assert fields(await timing_of(JOB))[-1] == "frameio"

    frameio.fps = 0.0  # Frame.io does not know the frame rate (yet)
    assert await timing_of(JOB) == DEFAULT_TIMING
