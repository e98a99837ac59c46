"""The review loop when something fails or stops half-way: a review status reaches whoever acts
on it even when that failed or the watcher stopped in between; the background loops go on
after a failure."""

import asyncio
import sqlite3
from types import SimpleNamespace

import pytest

from postflow.core.errors import FailedPrecondition
from postflow.testing.polling import wait_for
from services.watcher.jobs import Job
from services.watcher.review.clients import ReviewClients
from tests.watcher.review_fakes import FakeFrameio, review_loop


async def approved_since_synced(loop) -> Job:
    """A delivered file, synced, then approved on Frame.io."""
    job = await loop.delivered("a.mov", "F1")
    await loop.reviews.refresh(job)
    loop.frameio.status["F1"] = "Approved"
    return job


@pytest.mark.asyncio
async def test_a_status_whose_handler_failed_is_reported_again_at_the_next_sync(tmp_path):
    async with review_loop(tmp_path, FakeFrameio()) as loop:
        job = await approved_since_synced(loop)
        reported: list[str] = []

        async def failing_once(job, status: str) -> None:
            reported.append(status)
            if len(reported) == 1:
                raise OSError("approvals.sqlite: disk full")
        loop.reviews.on_status = failing_once
        await loop.reviews.refresh(job)
        await loop.reviews.refresh(job)
        await loop.reviews.refresh(job)
        assert reported == ["Approved", "Approved"], "reported again after the failure, then not again"


@pytest.mark.asyncio
async def test_a_status_the_watcher_stopped_reporting_is_reported_after_the_restart(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio) as loop:
        job = await approved_since_synced(loop)

        async def stopped(job, status: str) -> None:
            raise asyncio.CancelledError()  # the watcher stops while the approval is being recorded
        loop.reviews.on_status = stopped
        with pytest.raises(asyncio.CancelledError):
            await loop.reviews.refresh(job)
    async with review_loop(tmp_path, frameio) as loop:
        await loop.reviews.refresh(job)
        assert loop.callbacks.statuses == [(job.id, "Approved")]


class FailsOnce:
    """Wraps an async call: the first call raises, like a store that hit a locked or full disk."""

    def __init__(self, call) -> None:
        self.call = call
        self.failed = False

    async def __call__(self, *args):
        if not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("disk I/O error")
        return await self.call(*args)


@pytest.mark.asyncio
async def test_the_sweep_and_the_new_deliveries_go_on_after_a_store_failure(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio, {"poll_interval_s": 0.2}) as loop:
        await loop.delivered("a.mov", "F1")
        loop.reviews.followed = FailsOnce(loop.reviews.followed)
        loop.reviews.store.followed_ids = FailsOnce(loop.reviews.store.followed_ids)
        task = asyncio.create_task(loop.reviews.run())
        try:
            loop.reviews.wake()
            frameio.comment("F1", "seen after the failure")
            await wait_for(lambda: loop.outbound.events, timeout=5, message="the comment told by the sweep")
            await loop.delivered("b.mov", "F2")
            loop.reviews.wake()
            await wait_for(lambda: loop.store.file("F2"), timeout=5, message="the new delivery followed")
            assert not task.done()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_no_per_file_lock_is_kept_after_a_sync(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio, {"poll_interval_s": 0.01}) as loop:
        for index in range(3):
            await loop.delivered(f"{index}.mov", f"F{index}")
        assert await loop.reviews.sweep(0.01) == 3
        assert len(loop.reviews.file_locks) == 0


def test_a_connections_rebuilt_client_replaces_its_review_calls_instead_of_adding_to_them():
    clients_by_connection = {"default": SimpleNamespace(frameio=SimpleNamespace(sdk=None))}
    clients = ReviewClients(SimpleNamespace(get=clients_by_connection.__getitem__))  # type: ignore[arg-type]
    first = clients.review("default")
    assert clients.review("default") is first, "kept while the client is the same"
    for _ in range(3):  # a reload changes the connection's settings: a new client each time
        clients_by_connection["default"] = SimpleNamespace(frameio=SimpleNamespace(sdk=None))
        assert clients.review("default").client is clients_by_connection["default"].frameio
    assert len(clients._reviews) == 1, "the old clients are let go"


@pytest.mark.asyncio
async def test_a_file_whose_connection_left_the_config_is_one_warning_per_sweep_without_a_traceback(tmp_path, caplog):
    async with review_loop(tmp_path, FakeFrameio()) as loop:
        await loop.delivered("a.mov", "F1")

        def gone(connection: str) -> FakeFrameio:
            raise FailedPrecondition(f"connection {connection!r} is not in the config any more")
        loop.reviews.clients.review = gone  # type: ignore[method-assign]
        assert await loop.reviews.sweep(0.01) == 1
    (line,) = [record for record in caplog.records if "a.mov" in record.getMessage()]
    assert line.levelname == "WARNING" and "not in the config any more" in line.getMessage() and not line.exc_info
