"""Where the timing comes from: ffprobe on real media files made here with ffmpeg, Frame.io's
metadata when ffprobe is absent, the default when neither knows; and the proto round trip."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from postflow.markers.probe import probe_timing
from postflow.markers.timecode import Rate
from postflow.markers.timing import DEFAULT_TIMING, MediaTiming, timing_from_metadata
from postflow.testing.polling import wait_for
from postflow.v1 import watcher_pb2

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


async def make_media(path: Path, rate: str, timecode: str, seconds: str = "1") -> Path:
    process = await asyncio.create_subprocess_exec(
        FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=rate={rate}:size=64x48", "-t", seconds,
        "-timecode", timecode, "-c:v", "mpeg2video", str(path), stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return path


@pytest.mark.asyncio
@pytest.mark.parametrize(("name", "rate", "timecode", "expected"), [
    ("df.mov", "30000/1001", "01:00:00;00", MediaTiming(Rate(30000, 1001, True), 107892, 30, "ffprobe")),
    ("ndf.mov", "24000/1001", "01:00:00:00", MediaTiming(Rate(24000, 1001), 86400, 24, "ffprobe")),
    ("pal.mxf", "25", "10:00:00:00", MediaTiming(Rate(25), 900000, 25, "ffprobe")),
])
async def test_ffprobe_reads_rate_start_timecode_and_length(tmp_path: Path, name: str, rate: str, timecode: str,
                                                            expected: MediaTiming) -> None:
    media = await make_media(tmp_path / name, rate, timecode)
    assert await probe_timing(media) == expected


@pytest.mark.asyncio
async def test_ffprobe_absent_or_failing_gives_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_media = tmp_path / "notes.mov"
    not_media.write_text("not a movie")
    assert await probe_timing(not_media) is None
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing called ffprobe there
    media = await make_media(tmp_path / "df.mov", "30000/1001", "01:00:00;00")
    assert await probe_timing(media) is None


@dataclass(frozen=True)
class Field:
    field_definition_name: str
    value: object


async def timing_of(path: Path, metadata: list[Field]) -> MediaTiming:
    """What the review code does: ffprobe first, then Frame.io's metadata, then the default."""
    return await probe_timing(path) or timing_from_metadata(metadata) or DEFAULT_TIMING


@pytest.mark.asyncio
async def test_without_ffprobe_frameio_metadata_tells_the_timing(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    media = await make_media(tmp_path / "df.mov", "30000/1001", "01:00:00;00")
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not (Path(p) / "ffprobe").exists()))
    metadata = [Field("Status", "Needs Review"), Field("Frame Rate", 29.97), Field("Start Timecode", "00:59:59;28"),
                Field("Duration", 80.08)]
    assert await timing_of(media, metadata) == MediaTiming(Rate(30000, 1001, True), 107890, 2400, "frameio")
    assert await timing_of(media, [Field("Frame Rate", None)]) == DEFAULT_TIMING


def test_metadata_variants() -> None:
    assert timing_from_metadata([Field("Frame Rate", 23.976), Field("Start Timecode", "01:00:00:00")]) \
        == MediaTiming(Rate(24000, 1001), 86400, None, "frameio")
    assert timing_from_metadata([Field("Frame Rate", 25), Field("Duration", 10)]) \
        == MediaTiming(Rate(25), 0, 250, "frameio")
    assert timing_from_metadata([Field("Start Timecode", "01:00:00:00")]) is None
    assert timing_from_metadata([Field("Frame Rate", 25), Field("Start Timecode", "not a timecode")]) is None


def test_proto_round_trip_and_default() -> None:
    timing = MediaTiming(Rate(30000, 1001, True), 107892, 2400, "ffprobe")
    message = timing.to_proto()
    assert (message.rate_numerator, message.rate_denominator, message.drop_frame, message.start_frame,
            message.duration_frames, message.source) == (30000, 1001, True, 107892, 2400, "ffprobe")
    assert MediaTiming.from_proto(message) == timing
    assert MediaTiming.from_proto(watcher_pb2.MediaTiming()) == DEFAULT_TIMING == MediaTiming(Rate(25), 0, None,
                                                                                               "default")
    assert DEFAULT_TIMING.timecode(50) == "00:00:02:00"


async def hung_ffprobe(tmp_path: Path) -> tuple[Path, Path]:
    """An ffprobe that never answers (as on a hung mount), and the file its pid is written to."""
    pid_file, script = tmp_path / "ffprobe.pid", tmp_path / "ffprobe"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}.new && mv {pid_file}.new {pid_file}\nexec sleep 60\n")
    script.chmod(0o755)
    return script, pid_file


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # neither running nor a zombie: killed and reaped
    return False


@pytest.mark.asyncio
async def test_a_hung_ffprobe_is_killed_and_reaped_on_timeout_and_on_cancel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script, pid_file = await hung_ffprobe(tmp_path)
    monkeypatch.setattr("postflow.markers.probe.PROBE_TIMEOUT_S", 0.3)
    assert await probe_timing(tmp_path / "x.mov", str(script)) is None
    assert gone(int(pid_file.read_text()))

    pid_file.unlink()
    monkeypatch.setattr("postflow.markers.probe.PROBE_TIMEOUT_S", 30.0)
    probing = asyncio.create_task(probe_timing(tmp_path / "x.mov", str(script)))
    await wait_for(pid_file.exists, timeout=5)
    probing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probing
    assert gone(int(pid_file.read_text()))
