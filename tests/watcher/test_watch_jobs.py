"""WatchJobs against a real ledger: a client that falls behind the live events is dropped,
catches up from the stored events and goes live again without a gap; stopping the service
ends the stream."""

from __future__ import annotations

import asyncio

import pytest

from postflow.testing.watcher import make_job
from postflow.v1 import watcher_pb2
from services.watcher import jobs
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat
from services.watcher.servicer import WatcherServicer

SNAPSHOT = watcher_pb2.JOB_EVENT_KIND_SNAPSHOT
SNAPSHOT_END = watcher_pb2.JOB_EVENT_KIND_SNAPSHOT_END


@pytest.mark.asyncio
async def test_a_client_that_falls_behind_catches_up_from_the_ledger_and_the_stream_ends_on_stop(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite", live_buffer=2)
    await ledger.open()
    servicer = WatcherServicer(ledger, None, None, None, None, None, None, None, None, None, None)  # type: ignore[arg-type]
    await ledger.register([make_job(FileStat("first.mov", 10, 1, 1))], "detected")
    stream = servicer.WatchJobs(watcher_pb2.WatchJobsRequest(), None)
    try:
        async with asyncio.timeout(10):
            await follow_through(ledger, stream)
    finally:
        await stream.aclose()
        await ledger.close()


async def follow_through(ledger: Ledger, stream) -> None:
    assert [(await anext(stream)).kind for _ in range(2)] == [SNAPSHOT, SNAPSHOT_END]  # as of seq 1, then live
    created, _ = await ledger.register([make_job(FileStat(f"{i}.mov", 10, 1, 1)) for i in range(3)], "detected")
    for job in created:
        await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    assert ledger.live_events.dropped == 1, "six events published to a client that reads none"
    seen = [await anext(stream) for _ in range(6)]
    assert [event.seq for event in seen] == list(range(2, 8))
    assert [event.job.id for event in seen[3:]] == [job.id for job in created]
    assert {event.kind for event in seen} == {watcher_pb2.JOB_EVENT_KIND_CREATED, watcher_pb2.JOB_EVENT_KIND_STATE}
    ledger.live_events.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
