"""`transfer.bwlimit` on the wire: real GETs against the real streamer on loopback take as
long as the limit says, by sendfile and by the read path alike; a timetable's boundary
changes the rate of a pull in flight and what status readers are told; pushes share the
one limit with the pulls served."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from postflow.emulator.options import MIB
from postflow.testing.polling import wait_for
from postflow.testing.streamer import Streamer, collect, limited_streamer, push_call
from postflow.v1 import streamer_pb2
from services.streamer.page_cache import PageCache

COMPLETE = streamer_pb2.TRANSFER_PHASE_COMPLETE
MONDAY_MORNING = datetime(2026, 12, 7, 7, 59, 30)  # a Monday, half a minute before 08:00


@dataclass
class Clock:
    """The local time the streamer reads its timetable at, set by the test."""

    now: datetime = MONDAY_MORNING

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Received:
    """When each byte of a body arrived: (monotonic time, bytes so far) after each read."""

    marks: list[tuple[float, int]] = field(default_factory=list)
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def total(self) -> int:
        return self.marks[-1][1] if self.marks else 0

    def when(self, count: int) -> float:
        return next(t for t, total in self.marks if total >= count)

    def rate(self, start: int, stop: int) -> float:
        """Bytes per second between the arrival of byte `start` and of byte `stop`."""
        return (stop - start) / (self.when(stop) - self.when(start))


async def pull(url: str, received: Received | None = None) -> Received:
    received = received or Received()
    async with httpx.AsyncClient(timeout=60) as client, client.stream("GET", url) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            received.digest.update(chunk)
            received.marks.append((time.monotonic(), received.total + len(chunk)))
    return received


def local_url(streamer: Streamer, publication: streamer_pb2.Publication) -> str:
    return f"{streamer.base}/{publication.url.split('/', 3)[3]}"


def evict(path: Path) -> None:
    """Drops the file's pages from the page cache, so it is served by the read path, not sendfile."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert not PageCache().resident(fd, 0, path.stat().st_size)
    finally:
        os.close(fd)


@pytest.mark.asyncio
async def test_a_50_mib_pull_at_10m_takes_at_least_five_seconds(tmp_path):
    async with limited_streamer(tmp_path, "10M") as streamer:
        sha = streamer.media("big.mov", 50 * MIB, seed=1)
        publication = await streamer.publish("big.mov")
        started = time.monotonic()
        received = await pull(local_url(streamer, publication))
    elapsed = time.monotonic() - started
    assert received.total == 50 * MIB and received.digest.hexdigest() == sha
    assert elapsed >= 4.5, f"50 MiB at 10 MiB/s in {elapsed:.2f}s"


@pytest.mark.asyncio
async def test_the_read_path_keeps_to_the_limit_too(tmp_path):
    async with limited_streamer(tmp_path, "8M") as streamer:
        sha = streamer.media("cold.mov", 16 * MIB, seed=2)
        evict(streamer.root / "cold.mov")
        publication = await streamer.publish("cold.mov")
        started = time.monotonic()
        received = await pull(local_url(streamer, publication))
    elapsed = time.monotonic() - started
    assert received.digest.hexdigest() == sha
    assert elapsed >= 1.8, f"16 MiB at 8 MiB/s in {elapsed:.2f}s"


@pytest.mark.asyncio
async def test_a_timetable_boundary_changes_the_rate_of_a_pull_in_flight(tmp_path):
    clock = Clock()
    async with limited_streamer(tmp_path, "07:00,2M 08:00,8M 20:00,off", clock) as streamer:
        status = await streamer.stub.GetTunnelStatus(streamer_pb2.GetTunnelStatusRequest(), timeout=10)
        assert (status.bandwidth_limit_bps, status.bandwidth_schedule) == (2 * MIB, "07:00,2M 08:00,8M 20:00,off")
        sha = streamer.media("clip.mov", 16 * MIB, seed=3)
        publication = await streamer.publish("clip.mov")
        received = Received()
        pulling = asyncio.create_task(pull(local_url(streamer, publication), received))
        await wait_for(lambda: received.total >= 4 * MIB, interval=0.01, message="4 MiB received")
        assert not pulling.done(), "the pull ended before 08:00"
        clock.now = MONDAY_MORNING.replace(hour=8, second=0)
        assert (await pulling).digest.hexdigest() == sha
        status = await streamer.stub.GetTunnelStatus(streamer_pb2.GetTunnelStatusRequest(), timeout=10)
    before, after = received.rate(1 * MIB, 4 * MIB), received.rate(6 * MIB, 15 * MIB)
    assert before <= 2.5 * MIB, f"{before / MIB:.2f} MiB/s before 08:00 (limit 2M)"
    assert after >= 5 * MIB, f"{after / MIB:.2f} MiB/s after 08:00 (limit 8M)"
    assert after <= 10 * MIB, f"{after / MIB:.2f} MiB/s after 08:00 (limit 8M)"
    assert status.bandwidth_limit_bps == 8 * MIB


@pytest.mark.asyncio
async def test_the_limit_announced_at_the_boundary_reaches_event_readers(tmp_path):
    started = time.monotonic()

    def running_clock() -> datetime:  # reaches 08:00 half a second from now
        return MONDAY_MORNING.replace(second=59, microsecond=500_000) + timedelta(seconds=time.monotonic() - started)

    async with limited_streamer(tmp_path, "07:00,2M 08:00,8M", running_clock) as streamer:
        events = streamer.stub.WatchEvents(streamer_pb2.WatchStreamerEventsRequest(), timeout=10)
        limits = []
        async for event in events:
            if event.HasField("tunnel"):
                limits.append(event.tunnel.bandwidth_limit_bps)
            if limits[-1:] == [8 * MIB]:
                break
        events.cancel()
    assert limits[0] == 2 * MIB and limits[-1] == 8 * MIB


@pytest.mark.asyncio
async def test_pushes_and_pulls_share_the_one_limit(tmp_path, frameio):
    async with limited_streamer(tmp_path, "4M") as streamer:
        pull_sha = streamer.media("pulled.mov", 4 * MIB, seed=4)
        push_sha = streamer.media("pushed.mov", 4 * MIB, seed=5)
        created = await frameio.local_upload("pushed.mov", 4 * MIB)
        publication = await streamer.publish("pulled.mov")
        started = time.monotonic()
        received, progress = await asyncio.gather(
            pull(local_url(streamer, publication)),
            collect(push_call(streamer.stub, streamer.root, "pushed.mov", created)))
        elapsed = time.monotonic() - started
    assert received.digest.hexdigest() == pull_sha and progress[-1].phase == COMPLETE
    assert (await frameio.report(created["id"]))["sha256"] == push_sha
    # Each alone would take a second at 4 MiB/s; together they share it: 8 MiB, two seconds.
    assert elapsed >= 1.8, f"8 MiB at 4 MiB/s in {elapsed:.2f}s"
