"""A media file's timing from ffprobe (Debian's ffmpeg package), run as a subprocess when it is
installed: the frame rate of the first video stream, the start timecode (the `timecode` tag of
the container or of a stream; ';' before the frames = drop-frame) and the frame count."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from fractions import Fraction
from pathlib import Path

from postflow.markers.timecode import Rate, from_timecode
from postflow.markers.timing import MediaTiming

log = logging.getLogger(__name__)

FFPROBE = "ffprobe"
PROBE_TIMEOUT_S = 30.0  # a file on a hung mount must not hold the caller forever


async def probe_timing(path: Path | str, ffprobe: str = FFPROBE) -> MediaTiming | None:
    """The file's timing; None when ffprobe is not installed, fails, or finds no video."""
    try:
        process = await asyncio.create_subprocess_exec(
            ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except (FileNotFoundError, PermissionError):
        log.debug("no %s on PATH: the timing of %s comes from elsewhere", ffprobe, path)
        return None
    try:
        out, err = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_S)
    except TimeoutError:
        await stop(process)
        log.info("ffprobe gave no answer on %s within %.0f s", path, PROBE_TIMEOUT_S)
        return None
    except BaseException:  # the caller cancelled: the probe must not outlive it
        await asyncio.shield(stop(process))
        raise
    if process.returncode != 0:
        log.info("ffprobe could not read %s: %s", path, err.decode(errors="replace").strip()[:300])
        return None
    try:
        return timing_from_probe(json.loads(out))
    except (ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        log.info("ffprobe's answer on %s gave no timing: %s", path, exc)
        return None


async def stop(process: asyncio.subprocess.Process) -> None:
    """Kills ffprobe and reaps it (no zombie left)."""
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


def timing_from_probe(probe: dict) -> MediaTiming | None:
    """The timing in ffprobe's JSON (`-show_format -show_streams`); None without a video stream."""
    streams = probe.get("streams", [])
    video = next((stream for stream in streams if stream.get("codec_type") == "video"), None)
    if video is None:
        return None
    fps = stream_rate(video)
    if fps is None:
        return None
    tagged = [probe.get("format", {}), video, *streams]
    timecode = next((tc for item in tagged if (tc := item.get("tags", {}).get("timecode"))), "")
    rate = Rate.from_fps(float(fps), drop_frame=";" in timecode and round(fps) % 30 == 0)
    return MediaTiming(rate, from_timecode(timecode, rate) if timecode else 0, frame_count(probe, video, rate),
                       "ffprobe")


def stream_rate(video: dict) -> Fraction | None:
    """r_frame_rate (the stream's base rate), else avg_frame_rate; "0/0" means unknown."""
    for key in ("r_frame_rate", "avg_frame_rate"):
        numerator, _, denominator = str(video.get(key, "0/0")).partition("/")
        if int(numerator or 0) > 0 and int(denominator or 1) > 0:
            return Fraction(int(numerator), int(denominator or 1))
    return None


def frame_count(probe: dict, video: dict, rate: Rate) -> int | None:
    """nb_frames when the container counts them, else the duration times the rate."""
    if str(video.get("nb_frames", "")).isdigit() and int(video["nb_frames"]) > 0:
        return int(video["nb_frames"])
    seconds = video.get("duration") or probe.get("format", {}).get("duration")
    return round(Fraction(str(seconds)) * rate.fps) if seconds and float(seconds) > 0 else None
