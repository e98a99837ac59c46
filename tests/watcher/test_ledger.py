"""The SQLite ledger: identity, atomic transitions with events, epochs, paging, resume."""

import asyncio
import time

import pytest

from postflow.core.errors import InvalidArgument
from postflow.v1 import watcher_pb2
from services.watcher import jobs
from services.watcher.jobs import CANCELLED, DONE, PREPARING, QUEUED, UPLOADING, Conflict, Job, new_job_id
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat


def make_job(file: FileStat) -> Job:
    now = time.time()
    return Job(id=new_job_id(), path=file.path, size=file.size, mtime_ns=file.mtime_ns, state=QUEUED,
               max_attempts=3, created_at=now, updated_at=now)


async def register(ledger: Ledger, *files: FileStat) -> tuple[list[Job], list[Job]]:
    return await ledger.register([make_job(file) for file in files], "detected")


async def deliver(ledger: Ledger, job: Job) -> Job:
    """Takes a queued job through a whole attempt to DONE."""
    for step in (jobs.start_attempt, lambda j: jobs.upload_started(j, "F"), jobs.all_bytes_sent,
                 lambda j: jobs.deliver(j, "https://view", "", 0)):
        job = await ledger.update(job.id, job.epoch, step(job))
    return job


@pytest.fixture
async def ledger(tmp_path):
    ledger = Ledger(tmp_path / "watcher" / "ledger.sqlite", retain_events=50)
    await ledger.open()
    yield ledger
    await ledger.close()


async def test_identity_is_unique_across_rescans_and_reopen(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    await ledger.open()
    file = FileStat("SQ01/a.mov", 10, 111, 1)
    created, _ = await register(ledger, file)
    assert len(created) == 1
    assert await register(ledger, file) == ([], [])
    await ledger.close()
    reopened = Ledger(path)
    await reopened.open()
    assert await register(reopened, file) == ([], [])
    assert (await reopened.find("SQ01/a.mov", 10, 111)).id == created[0].id
    mode = (await reopened._run(lambda: reopened._db.execute("PRAGMA journal_mode").fetchone()))[0]
    assert mode == "wal"
    await reopened.close()


async def test_new_content_restarts_the_unfinished_job_and_queues_its_file_for_deletion(ledger):
    (job,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    job = await ledger.update(job.id, job.epoch, jobs.published(job, "T1", "https://t/1", time.time()))
    job = await ledger.update(job.id, job.epoch, jobs.upload_started(job, "F1"))
    assert (job.state, job.attempts) == (UPLOADING, 1)
    _, (restarted,) = await register(ledger, FileStat("a.mov", 20, 2, 1))
    assert restarted.id == job.id
    assert (restarted.size, restarted.mtime_ns, restarted.state, restarted.attempts) == (20, 2, QUEUED, 0)
    assert (restarted.file_id, restarted.ticket_id, restarted.stale_file_ids) == ("", "", ("F1",))
    assert restarted.epoch == job.epoch + 1
    assert (await ledger.get(job.id)).stale_file_ids == ("F1",)
    # the old attempt can no longer write
    assert await ledger.update(job.id, job.epoch, jobs.all_bytes_sent(job)) is None
    assert (await ledger.get(job.id)).state == QUEUED


async def test_a_delivered_file_that_changes_becomes_a_new_job(ledger):
    (first,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    await deliver(ledger, first)
    (second,), restarted = await register(ledger, FileStat("a.mov", 11, 2, 1))
    assert restarted == [] and second.id != first.id


async def test_transitions_append_numbered_events_and_publish_them_in_order(ledger):
    queue = ledger.subscribe()
    (job,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    await ledger.progress(job.id, job.epoch, 5, 1.0)
    live = [queue.get_nowait() for _ in range(3)]
    assert [e.kind for e in live] == [watcher_pb2.JOB_EVENT_KIND_CREATED, watcher_pb2.JOB_EVENT_KIND_STATE,
                                      watcher_pb2.JOB_EVENT_KIND_PROGRESS]
    assert [e.seq for e in live] == sorted(e.seq for e in live)
    assert live[2].job.bytes_done == 5 and live[1].message == "attempt 1 of 3" and live[1].job.state == PREPARING
    stored = await ledger.events_after(0)
    assert [(e.seq, e.kind, e.job.state) for e in stored] == [(e.seq, e.kind, e.job.state) for e in live]
    ledger.unsubscribe(queue)


async def test_event_retention_is_bounded(ledger):
    (job,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    for i in range(200):
        await ledger.update(job.id, job.epoch, jobs.folder_ready(job, f"folder-{i}"))
    first, last = await ledger.seq_range()
    assert last == 202
    assert last - first < 60


async def test_a_slow_subscriber_is_dropped_with_a_marker(ledger):
    queue = ledger.subscribe(maxsize=3)
    for i in range(5):
        await register(ledger, FileStat(f"{i}.mov", 10, 1, 1))
    await asyncio.sleep(0)
    assert queue.get_nowait() is None


async def test_change_bumps_epoch_and_conflicts_are_reported(ledger):
    (job,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    with pytest.raises(Conflict):
        await ledger.change(job.id, jobs.retry)
    job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    failed = await ledger.update(job.id, job.epoch, jobs.fail(job, "boom"))
    assert (failed.attempts, failed.error) == (1, "boom")
    retried = await ledger.change(job.id, jobs.retry)
    assert (retried.state, retried.attempts, retried.error, retried.epoch) == (QUEUED, 0, "", failed.epoch + 1)
    assert await ledger.update(job.id, job.epoch, jobs.start_attempt(retried)) is None  # an epoch too old


async def test_runnable_order_backoff_and_reconnect(ledger):
    queued = []
    for i in range(4):
        (job,), _ = await register(ledger, FileStat(f"{i}.mov", 10, 1, 1))
        queued.append(job)
    now = time.time()
    await ledger.update(queued[0].id, 0, jobs.back_off(queued[0], "boom", 60, now))
    await ledger.update(queued[1].id, 0, jobs.wait_reconnect(queued[1], "reconnect", give_back_attempt=False))
    await ledger.update(queued[3].id, 0, jobs.start_attempt(queued[3]))  # interrupted by a restart: resumes first
    ids = [j.id for j in await ledger.runnable(now, 10, [], auth_ok=False)]
    assert ids == [queued[3].id, queued[2].id]
    ids = [j.id for j in await ledger.runnable(now + 61, 10, [queued[3].id], auth_ok=True)]
    assert ids == [queued[0].id, queued[1].id, queued[2].id]
    assert await ledger.next_due() == pytest.approx(now + 60)


async def test_list_filters_and_pages(ledger):
    for i in range(7):
        (job,), _ = await register(ledger, FileStat(f"SQ0{i % 2}/{i}.mov", 10, 1, 1))
        if i == 3:
            await ledger.change(job.id, lambda j: jobs.cancel(j, "no"))
    page = await ledger.page([], "", 3, "")
    seen = [j.id for j in page.jobs]
    assert page.total == 7 and len(seen) == 3 and page.next_token
    while page.next_token:
        page = await ledger.page([], "", 3, page.next_token)
        seen += [j.id for j in page.jobs]
    assert len(set(seen)) == 7
    assert (await ledger.page([CANCELLED], "", 50, "")).total == 1
    assert (await ledger.page([], "SQ01/", 50, "")).total == 3
    for bad in ("garbage", "1.5:abc", "W10=", "WzEsIDJd"):  # the last two: [] and [1, 2], base64
        with pytest.raises(InvalidArgument, match="page_token"):
            await ledger.page([], "", 3, bad)


async def test_only_contents_without_a_job_are_unknown(ledger):
    (job,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    files = [FileStat("a.mov", 10, 1, 1), FileStat("a.mov", 11, 2, 1), FileStat("b.mov", 10, 1, 1)]
    assert await ledger.unknown(files) == files[1:]


async def test_folder_cache(ledger):
    assert await ledger.folder("root", "SQ01") is None
    await ledger.save_folder("root", "SQ01", "F-1")
    assert await ledger.folder("root", "SQ01") == "F-1"
    await ledger.forget_folders("root")
    assert await ledger.folder("root", "SQ01") is None


async def test_stats(ledger):
    for i in range(3):
        (job,), _ = await register(ledger, FileStat(f"{i}.mov", 100, 1, 1))
        if i:
            await deliver(ledger, job)
    counts, files, size = await ledger.stats()
    assert counts == {QUEUED: 1, DONE: 2} and files == 2 and size == 200
