"""The review loop when something fails or stops half-way: a review status reaches whoever acts
on it even when that failed or the watcher stopped in between."""

import asyncio

import pytest

from tests.watcher.review_fakes import FakeFrameio, review_loop


@pytest.mark.asyncio
async def test_a_status_whose_handler_failed_is_reported_again_at_the_next_sync(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio) as loop:
        job = await loop.delivered("a.mov", "F1")
        await loop.reviews.refresh(job)
        frameio.status["F1"] = "Approved"
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
        job = await loop.delivered("a.mov", "F1")
        await loop.reviews.refresh(job)
        frameio.status["F1"] = "Approved"

        async def stopped(job, status: str) -> None:
            raise asyncio.CancelledError()  # the watcher stops while the approval is being recorded
        loop.reviews.on_status = stopped
        with pytest.raises(asyncio.CancelledError):
            await loop.reviews.refresh(job)
    async with review_loop(tmp_path, frameio) as loop:
        await loop.reviews.refresh(job)
        assert loop.callbacks.statuses == [(job.id, "Approved")]
