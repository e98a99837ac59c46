"""The SQLite ledger: identity, atomic transitions with events, epochs, paging, resume."""

import asyncio
import time
from collections import Counter

import pytest
import pytest_asyncio

from postflow.core.errors import InvalidArgument
from postflow.testing.watcher import make_job
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher import jobs
from services.watcher.feed import Progress
from services.watcher.jobs import CANCELLED, DONE, PREPARING, QUEUED, UPLOADING, Conflict, Job
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat
from services.watcher.schema import JobQuery


async def register(ledger: Ledger, *files: FileStat) -> tuple[list[Job], list[Job]]:
    return await ledger.register([make_job(file) for file in files], "detected")


async def deliver(ledger: Ledger, job: Job) -> Job:
    """Takes a queued job through a whole attempt to DONE."""
    for step in (jobs.start_attempt, lambda j: jobs.upload_started(j, "F"), jobs.all_bytes_sent,
                 lambda j: jobs.deliver(j, "https://view", "", 0, "none", 1000.0)):
        job = await ledger.update(job.id, job.epoch, step(job))
    return job


async def received(subscription, count: int) -> list[watcher_pb2.JobEvent]:
    """The next `count` live events, already published."""
    assert len(subscription) >= count
    return [await subscription.get() for _ in range(count)]


@pytest_asyncio.fixture
async def ledger(tmp_path):
    ledger = Ledger(tmp_path / "watcher" / "ledger.sqlite", retain_events=50)
    await ledger.open()
    yield ledger
    await ledger.close()


@pytest.mark.asyncio
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
    assert (await reopened.find("default", "SQ01/a.mov", 10, 111)).id == created[0].id
    mode = (await reopened.run(lambda: reopened._db.execute("PRAGMA journal_mode").fetchone()))[0]
    assert mode == "wal"
    await reopened.close()


@pytest.mark.asyncio
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


@pytest.mark.asyncio
async def test_a_delivered_file_that_changes_becomes_a_new_job(ledger):
    (first,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    await deliver(ledger, first)
    (second,), restarted = await register(ledger, FileStat("a.mov", 11, 2, 1))
    assert restarted == [] and second.id != first.id


@pytest.mark.asyncio
async def test_changes_are_stored_as_numbered_events_and_published_in_order(ledger):
    with ledger.live_events.subscribe() as subscription:
        (job,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
        job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
        live = await received(subscription, 2)
    assert [e.kind for e in live] == [watcher_pb2.JOB_EVENT_KIND_CREATED, watcher_pb2.JOB_EVENT_KIND_STATE]
    assert live[0].seq < live[1].seq and live[0].message == "detected"
    assert live[1].message == "attempt 1 of 3" and live[1].job.state == PREPARING
    stored = await ledger.events_after(0)
    assert [(e.seq, e.kind, e.job, e.totals) for e in stored] == [(e.seq, e.kind, e.job, e.totals) for e in live]
    assert ledger.live_events.subscribers == 0


@pytest.mark.asyncio
async def test_progress_is_kept_in_memory_sent_live_and_stored_with_the_next_change(ledger):
    with ledger.live_events.subscribe() as subscription:
        (job,), _ = await register(ledger, FileStat("a.mov", 100, 1, 1))
        job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
        job = await ledger.update(job.id, job.epoch, jobs.upload_started(job, "F1"))
        shown = await ledger.progress(job.id, job.epoch, Progress(40, 20.0, 3))
        assert (shown.bytes_done, shown.rate_bps, shown.connections) == (40, 20.0, 3)
        *_, last_change, progress = await received(subscription, 4)
    assert progress.kind == watcher_pb2.JOB_EVENT_KIND_PROGRESS and progress.seq == last_change.seq
    assert (progress.job.bytes_done, progress.job.connections, progress.job.state) == (40, 3, UPLOADING)
    assert progress.totals == last_change.totals
    assert [e.kind for e in await ledger.events_after(0)].count(watcher_pb2.JOB_EVENT_KIND_PROGRESS) == 0
    (head,) = (await ledger.page(JobQuery(), 10, "")).jobs
    assert (await ledger.get(job.id)).connections == 3 and head.bytes_done == 40  # reads show it
    verifying = await ledger.update(job.id, job.epoch, jobs.verify(job))
    assert (verifying.bytes_done, verifying.rate_bps, verifying.connections) == (40, 20.0, 0)
    await ledger.close()
    reopened = Ledger(ledger.path)
    await reopened.open()
    assert (await reopened.get(job.id)).bytes_done == 40  # stored with the change
    await reopened.close()


@pytest.mark.asyncio
async def test_a_failed_attempt_that_had_handed_over_every_byte_did_not_send_them(ledger):
    """A push reports the bytes of its last part before storage answers; if storage refuses
    it, the next attempt must not take the file for whole and wait for Frame.io to process it."""
    (job,), _ = await register(ledger, FileStat("a.mov", 100, 1, 1))
    job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    job = await ledger.update(job.id, job.epoch, jobs.upload_started(job, "F1"))
    shown = await ledger.progress(job.id, job.epoch, Progress(100, 20.0, 1))
    assert shown.bytes_done == 99
    job = await ledger.update(job.id, job.epoch, jobs.retry_later(job, "part 1 refused", 1.0, time.time()))
    job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    assert job.file_id == "F1" and not job.every_byte_sent
    job = await ledger.update(job.id, job.epoch, jobs.upload_started(job, "F2"))
    job = await ledger.update(job.id, job.epoch, jobs.all_bytes_sent(job))
    job = await ledger.update(job.id, job.epoch, jobs.retry_later(job, "processing took too long", 1.0, time.time()))
    assert (job.bytes_done, job.every_byte_sent) == (100, True)


@pytest.mark.asyncio
async def test_progress_of_an_attempt_that_was_overtaken_is_refused(ledger):
    (job,), _ = await register(ledger, FileStat("a.mov", 100, 1, 1))
    job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    cancelled = await ledger.change(job.id, lambda j: jobs.cancel(j, "no"))
    with ledger.live_events.subscribe() as subscription:
        assert await ledger.progress(job.id, job.epoch, Progress(40, 20.0, 3)) is None
        assert await ledger.progress(job.id, cancelled.epoch, Progress(40, 20.0, 3)) is None  # finished
        await asyncio.sleep(0)
        assert len(subscription) == 0 and (await ledger.get(job.id)).bytes_done == 0


@pytest.mark.asyncio
async def test_every_event_carries_totals_equal_to_its_rows(ledger):
    """Replaying the events' rows in order, the counts after each one are its totals."""
    with ledger.live_events.subscribe() as subscription:
        created, _ = await register(ledger, *(FileStat(f"{i}.mov", 100 + i, 1, 1) for i in range(4)))
        await deliver(ledger, created[0])
        await deliver(ledger, created[1])
        await ledger.change(created[2].id, lambda j: jobs.cancel(j, "no"))
        job = await ledger.update(created[3].id, 0, jobs.start_attempt(created[3]))
        job = await ledger.update(job.id, 0, jobs.upload_started(job, "F"))
        await ledger.progress(job.id, 0, Progress(50, 1.0, 1))
        await register(ledger, FileStat("3.mov", 999, 2, 1))  # new content: restarts job 3 with another size
        await asyncio.sleep(0)
        events = await received(subscription, len(subscription))
    rows: dict[str, common_pb2.Job] = {}
    for event in events:
        rows[event.job.id] = event.job
        states = Counter(jobs.state_name(j.state) for j in rows.values())
        done = [j for j in rows.values() if j.state == DONE]
        assert dict(event.totals.jobs_by_state) == {name: states[name] for name in event.totals.jobs_by_state}
        assert (event.totals.files_delivered, event.totals.bytes_delivered) == (len(done), sum(j.size for j in done))
    assert len(events) == 4 + 4 * 2 + 1 + 3 + 1
    assert (await ledger.head()).totals == events[-1].totals
    assert [e.totals for e in await ledger.events_after(0, limit=100)] == \
        [e.totals for e in events if e.kind != watcher_pb2.JOB_EVENT_KIND_PROGRESS]


@pytest.mark.asyncio
async def test_totals_are_counted_again_on_open(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    await ledger.open()
    created, _ = await register(ledger, *(FileStat(f"{i}.mov", 100, 1, 1) for i in range(3)))
    await deliver(ledger, created[0])
    before = (await ledger.head()).totals
    await ledger.close()
    reopened = Ledger(path)
    await reopened.open()
    head = await reopened.head()
    assert head.totals == before and head.totals.jobs_by_state["queued"] == 2 and head.totals.files_delivered == 1
    await reopened.close()


@pytest.mark.asyncio
async def test_event_retention_is_bounded(ledger):
    (job,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    job = await ledger.update(job.id, job.epoch, jobs.start_attempt(job))
    for i in range(200):
        await ledger.update(job.id, job.epoch, jobs.folder_ready(job, f"folder-{i}"))
    head = await ledger.head()
    assert head.last_seq == 202
    assert head.last_seq - head.first_seq < 60


@pytest.mark.asyncio
async def test_a_slow_subscriber_is_dropped_and_its_subscription_ends(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite", live_buffer=3)
    await ledger.open()
    with ledger.live_events.subscribe() as slow:
        for i in range(5):
            await register(ledger, FileStat(f"{i}.mov", 10, 1, 1))
        await asyncio.sleep(0)
        assert slow.dropped and await slow.get() is None
    await ledger.close()


@pytest.mark.asyncio
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


@pytest.mark.asyncio
async def test_runnable_order_backoff_and_reconnect(ledger):
    queued = []
    for i in range(4):
        (job,), _ = await register(ledger, FileStat(f"{i}.mov", 10, 1, 1))
        queued.append(job)
    now = time.time()
    await ledger.update(queued[0].id, 0, jobs.back_off(queued[0], "boom", 60, now))
    await ledger.update(queued[1].id, 0, jobs.wait_reconnect(queued[1], "reconnect", give_back_attempt=False))
    await ledger.update(queued[3].id, 0, jobs.start_attempt(queued[3]))  # interrupted by a restart: resumes first
    ids = [j.id for j in await ledger.runnable(now, 10, [], auth_ok=[], pipelines=["default"])]
    assert ids == [queued[3].id, queued[2].id]
    ids = [j.id for j in await ledger.runnable(now + 61, 10, [queued[3].id], auth_ok=["default"],
                                               pipelines=["default"])]
    assert ids == [queued[0].id, queued[1].id, queued[2].id]
    assert await ledger.next_due() == pytest.approx(now + 60)


@pytest.mark.asyncio
async def test_list_filters_and_pages(ledger):
    for i in range(7):
        (job,), _ = await register(ledger, FileStat(f"SQ0{i % 2}/{i}.mov", 10, 1, 1))
        if i == 3:
            await ledger.change(job.id, lambda j: jobs.cancel(j, "no"))
    page = await ledger.page(JobQuery(), 3, "")
    seen = [j.id for j in page.jobs]
    assert page.total == 7 and len(seen) == 3 and page.next_token
    while page.next_token:
        page = await ledger.page(JobQuery(), 3, page.next_token)
        seen += [j.id for j in page.jobs]
    assert len(set(seen)) == 7
    assert (await ledger.page(JobQuery(states=[CANCELLED]), 50, "")).total == 1
    assert (await ledger.page(JobQuery(path_prefix="SQ01/"), 50, "")).total == 3
    for bad in ("garbage", "1.5:abc", "W10=", "WzEsIDJd"):  # the last two: [] and [1, 2], base64
        with pytest.raises(InvalidArgument, match="page_token"):
            await ledger.page(JobQuery(), 3, bad)


@pytest.mark.asyncio
async def test_only_contents_without_a_job_are_unknown(ledger):
    (job,), _ = await register(ledger, FileStat("a.mov", 10, 1, 1))
    files = [FileStat("a.mov", 10, 1, 1), FileStat("a.mov", 11, 2, 1), FileStat("b.mov", 10, 1, 1)]
    assert await ledger.unknown("default", files) == files[1:]


@pytest.mark.asyncio
async def test_folder_cache(ledger):
    assert await ledger.folder("root", "SQ01") is None
    await ledger.save_folder("root", "SQ01", "F-1")
    assert await ledger.folder("root", "SQ01") == "F-1"
    await ledger.forget_folders("root")
    assert await ledger.folder("root", "SQ01") is None


@pytest.mark.asyncio
async def test_totals(ledger):
    for i in range(3):
        (job,), _ = await register(ledger, FileStat(f"{i}.mov", 100, 1, 1))
        if i:
            await deliver(ledger, job)
    totals = (await ledger.head()).totals
    assert totals.jobs_by_state["queued"] == 1 and totals.jobs_by_state["done"] == 2
    assert sum(totals.jobs_by_state.values()) == 3 and (totals.files_delivered, totals.bytes_delivered) == (2, 200)
