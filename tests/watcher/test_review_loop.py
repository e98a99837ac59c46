"""The review loop: comments and review status of delivered files, told once, found by
webhook events or by the sweep; its metrics count what it told, the files it follows and the
end of each sweep."""

import asyncio
import logging
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from postflow.testing.metrics import Scrape
from postflow.testing.polling import wait_for
from services.watcher.outbound.messages import compose
from services.watcher.review.metrics import ReviewMetrics
from tests.watcher.review_fakes import FakeFrameio, FakeOutbound, event, review_loop


async def followed_with_a_comment(loop, text: str):
    """A delivered file with one comment, synced."""
    job = await loop.delivered("a.mov", "F1")
    comment = loop.frameio.comment("F1", text)
    await loop.reviews.refresh(job)
    return job, comment


@pytest.mark.asyncio
async def test_a_new_comment_is_one_comment_created_event_with_author_text_timecode_version_and_link(tmp_path):
    frameio = FakeFrameio(fps=25, start="01:00:00:00")
    async with review_loop(tmp_path, frameio) as loop:
        job = await loop.delivered("SQ01/cut_v002.mov", "F2", version=2)
        await loop.reviews.refresh(job)
        assert loop.outbound.events == [], "nothing to tell yet"
        comment = frameio.comment("F2", "the sky flickers", frame=30, author="Alice")
        await loop.reviews.on_review_event(event("comment.created", "comment", comment.id))
        [created] = loop.outbound.events
        assert created.type == "comment_created" and created.pipelines == {"default"}
        assert created.body["job"]["path"] == "SQ01/cut_v002.mov"
        assert created.body["detail"] == {
            "author": "Alice", "text": "the sky flickers", "timecode": "01:00:01:05", "frame": 30, "version": 2,
            "link": f"https://next.frame.io/view/F2?comment_id={comment.id}", "comment_id": comment.id}
        assert loop.callbacks.changed == [job.id], "the comments changed once"
        message = compose([created.body])
        assert "SQ01/cut_v002.mov v2 at 01:00:01:05: Alice commented: “the sky flickers”" in message.body
        assert message.title == "PostFlow: cut_v002.mov comment created"


@pytest.mark.asyncio
async def test_a_completed_comment_is_told_once_and_a_restart_tells_nothing_again(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio) as loop:
        job, comment = await followed_with_a_comment(loop, "trim the head")
        frameio.complete("F1", comment.id)
        await loop.reviews.on_review_event(event("comment.completed", "comment", comment.id))
        await loop.reviews.refresh(job)
        assert loop.outbound.kinds() == ["comment_created", "comment_completed"]
        assert loop.outbound.events[1].source == f"comment_completed-{comment.id}"
    outbound = FakeOutbound()
    async with review_loop(tmp_path, frameio, outbound=outbound) as loop:
        await loop.reviews.refresh(job)
        await loop.reviews.sweep(0.01)
        assert outbound.events == [], "told before the restart: not told again"
        assert loop.callbacks.changed == [], "nothing changed since"


@pytest.mark.asyncio
async def test_the_review_status_is_stored_and_a_change_calls_on_status(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio) as loop:
        job = await loop.delivered("a.mov", "F1")
        await loop.reviews.refresh(job)
        frameio.status["F1"] = "Approved"
        await loop.reviews.on_review_event(event("metadata.value.updated", "file", "F1"))
        await loop.reviews.refresh(job)
        assert loop.callbacks.statuses == [(job.id, "Approved")], "once, when it changed"
        stored = await loop.store.file("F1")
        assert stored is not None and stored.review_status == "Approved"


@pytest.mark.asyncio
async def test_a_file_delivered_before_the_store_existed_is_synced_silently_first(tmp_path):
    frameio = FakeFrameio(status={"F1": "Approved"})
    frameio.comment("F1", "old news")
    async with review_loop(tmp_path, frameio) as loop:
        job = await loop.delivered("a.mov", "F1", at=loop.store.created_at - 3600)
        await loop.reviews.refresh(job)
        assert loop.outbound.events == [] and loop.callbacks.statuses == []
        frameio.comment("F1", "news")
        await loop.reviews.refresh(job)
        assert [e.body["detail"]["text"] for e in loop.outbound.events] == ["news"]


@pytest.mark.asyncio
async def test_an_event_for_a_file_postflow_did_not_deliver_is_one_info_line_and_nothing_else(tmp_path, caplog):
    frameio = FakeFrameio()
    caplog.set_level(logging.INFO, logger="services.watcher.review")
    async with review_loop(tmp_path, frameio) as loop:
        await loop.reviews.on_review_event(event("file.ready", "file", "STRANGER"))
        frameio.comment("ELSEWHERE", "not ours")
        await loop.reviews.on_review_event(event("comment.deleted", "comment", "c-unknown"))
        lines = [r for r in caplog.records if r.name.startswith("services.watcher.review")]
        assert [r.levelno for r in lines] == [logging.INFO, logging.INFO]
        assert "STRANGER" in lines[0].getMessage() and "c-unknown" in lines[1].getMessage()
        assert frameio.calls == [] and loop.outbound.events == [] and await loop.store.followed_ids() == set()


@pytest.mark.asyncio
async def test_a_comment_in_a_project_postflow_does_not_deliver_into_costs_no_frameio_call(tmp_path, caplog):
    """A webhook covers a whole workspace: the other projects' comments are none of PostFlow's."""
    frameio = FakeFrameio()
    caplog.set_level(logging.INFO, logger="services.watcher.review")
    async with review_loop(tmp_path, frameio) as loop:
        job, _ = await followed_with_a_comment(loop, "ours")
        calls = len(frameio.calls)
        theirs = frameio.comment("THEIRS", "someone else's cut")
        await loop.reviews.on_review_event(event("comment.created", "comment", theirs.id, project_id="elsewhere"))
        assert len(frameio.calls) == calls and [e.type for e in loop.outbound.events] == ["comment_created"]
        assert "project elsewhere holds no file PostFlow follows" in caplog.text
        ours = frameio.comment("F1", "and another")
        await loop.reviews.on_review_event(event("comment.created", "comment", ours.id))
        assert [e.body["detail"]["text"] for e in loop.outbound.events] == ["ours", "and another"]


@pytest.mark.asyncio
async def test_a_deleted_comment_is_found_by_the_file_the_store_knows_it_on(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio) as loop:
        job, comment = await followed_with_a_comment(loop, "gone soon")
        frameio.comments["F1"] = []
        await loop.reviews.on_review_event(event("comment.deleted", "comment", comment.id))
        assert await loop.store.comments("F1") == []
        assert [c.deleted_at > 0 for c in await loop.store.comments("F1", deleted=True)] == [True]
        assert loop.callbacks.changed == [job.id, job.id]


@pytest.mark.asyncio
async def test_the_sweep_finds_a_comment_no_webhook_announced(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio, {"poll_interval_s": 0.2}) as loop:
        job = await loop.delivered("a.mov", "F1")
        other = await loop.delivered("b.mov", "F2")
        task = asyncio.create_task(loop.reviews.run())
        try:
            await wait_for(lambda: loop.store.followed_ids(), message="the delivered files followed")
            frameio.comment("F2", "seen by polling only")
            await wait_for(lambda: loop.outbound.events, timeout=5, message="the comment told")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        [told] = loop.outbound.events
        assert told.body["job"]["id"] == other.id and told.body["detail"]["text"] == "seen by polling only"
        assert job.id != other.id


@pytest.mark.asyncio
async def test_nothing_is_followed_when_follow_days_is_zero(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio, {"follow_days": 0}) as loop:
        await loop.delivered("a.mov", "F1")
        assert await loop.reviews.followed() == []
        await loop.reviews.on_review_event(event("file.ready", "file", "F1"))
        assert frameio.calls == []


@pytest.mark.asyncio
async def test_a_file_just_delivered_is_followed_at_once_without_a_frameio_call_and_synced_by_a_webhook(tmp_path):
    frameio = FakeFrameio()
    async with review_loop(tmp_path, frameio, {"poll_interval_s": 3600}) as loop:
        await loop.delivered("a.mov", "F1")
        task = asyncio.create_task(loop.reviews.run())
        try:
            await wait_for(lambda: loop.store.followed_ids(), message="the first sweep's first file")
            await loop.delivered("b.mov", "F2")
            loop.reviews.wake()
            await wait_for(lambda: loop.store.file("F2"), timeout=5, message="the new delivery followed")
            assert not [call for call in frameio.calls if call.endswith(" F2")], "no Frame.io call per delivery"
            frameio.comment("F2", "too dark")
            await loop.reviews.on_review_event(event("metadata.value.updated", "file", "F2"))
            assert [told.body["detail"]["text"] for told in loop.outbound.events] == ["too dark"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_the_metrics_count_comments_told_files_followed_and_the_end_of_each_sweep(tmp_path):
    registry, frameio = CollectorRegistry(), FakeFrameio()
    async with review_loop(tmp_path, frameio, {"follow_days": 1}, metrics=ReviewMetrics(registry)) as loop:
        started = Scrape.parse(generate_latest(registry).decode())
        job, comment = await followed_with_a_comment(loop, "trim the head")
        frameio.complete("F1", comment.id)
        await loop.reviews.refresh(job)
        await loop.reviews.refresh(job)  # nothing new: nothing counted
        await loop.delivered("b.mov", "F2", pipeline="other")
        await loop.delivered("old.mov", "F3", at=time.time() - 2 * 86400)  # past follow_days
        await loop.reviews.refresh_followed_metric()
        before_sweep = time.time()
        await loop.reviews.sweep(0.01)
        metrics = Scrape.parse(generate_latest(registry).decode())
    assert metrics.value("postflow_review_events_total", pipeline="default", event="comment_created") == 1
    assert metrics.value("postflow_review_events_total", pipeline="default", event="comment_completed") == 1
    assert metrics.total("postflow_review_events_total") == 2
    assert started.value("postflow_review_followed_files") == 0
    assert metrics.value("postflow_review_followed_files") == 2
    last_sweep = "postflow_review_last_sweep_timestamp_seconds"
    assert started.value(last_sweep) <= before_sweep <= metrics.value(last_sweep) <= time.time()
