"""The review loop's Frame.io calls spend buckets of their own: a sweep over many files never
makes a delivery's calls (a project shown, a failed upload deleted) wait for the pace; the
review store answers a sync and a webhook's event by index, however many files it holds."""

import httpx
import pytest

from postflow.frameio_limits import RATE_LIMITS
from postflow.frameio_review import FrameioReview
from postflow.testing.frameio_mock import ManualTime, mock_client
from tests.watcher.review_fakes import FakeFrameio, event, review_loop

COMMENT = {"id": "c1", "file_id": "F1", "text": "trim the head", "timestamp": 10, "created_at": "2026-01-01T00:00:00Z",
           "updated_at": "2026-01-01T00:00:00Z", "links": [], "mentions": []}


def frameio(request: httpx.Request) -> httpx.Response:
    if request.method == "DELETE":
        return httpx.Response(204)
    if request.url.path.endswith("/metadata"):
        return httpx.Response(200, json={"data": {"file_id": "F1", "metadata": []}})
    return httpx.Response(200, json={"data": COMMENT})


@pytest.mark.asyncio
async def test_a_sweeps_metadata_and_comment_reads_leave_the_delivery_calls_budget_alone():
    time = ManualTime()
    client, seen = mock_client(frameio, sleep=time.sleep, clock=time.clock)
    review = FrameioReview(client)
    calls, _ = RATE_LIMITS["other"]
    for _ in range(calls):  # a sweep's worth: each file's review status, and a webhook's comment
        await review.show_metadata("A1", "F1")
        await review.show_comment("A1", "c1")
    await client.delete_file("A1", "F9")  # a delivery discards an upload Frame.io failed
    assert time.slept == [] and len(seen) == 2 * calls + 1


@pytest.mark.asyncio
async def test_a_sync_and_a_comment_event_read_the_review_store_by_index_only(tmp_path):
    frameio_fake = FakeFrameio()
    async with review_loop(tmp_path, frameio_fake) as loop:
        job = await loop.delivered("a.mov", "F1")
        comment = frameio_fake.comment("F1", "the sky flickers")
        statements: list[str] = []
        await loop.store.run(lambda: loop.store.db.set_trace_callback(statements.append))
        await loop.reviews.refresh(job)
        await loop.reviews.on_review_event(event("comment.created", "comment", comment.id))
        await loop.store.run(lambda: loop.store.db.set_trace_callback(None))
        queries = [sql for sql in statements if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE"))]
        plans = await loop.store.run(lambda: {sql: [row[3] for row in loop.store.db.execute(
            f"EXPLAIN QUERY PLAN {sql}")] for sql in queries})
        assert queries and all(plans.values())
        scans = {sql: plan for sql, plan in plans.items() if any(step.startswith("SCAN") for step in plan)}
        assert scans == {}


@pytest.mark.asyncio
async def test_a_burst_of_comment_events_costs_one_sync_and_a_later_event_syncs_again(tmp_path):
    frameio_fake = FakeFrameio()
    async with review_loop(tmp_path, frameio_fake) as loop:
        job = await loop.delivered("a.mov", "F1")
        await loop.reviews.refresh(job)
        frameio_fake.calls.clear()
        burst = [event("comment.created", "comment", frameio_fake.comment("F1", f"note {n}").id) for n in range(5)]
        for received in burst:  # a reviewer's session, the webhooks stored before the first is acted on
            await loop.reviews.on_review_event(received)
        assert frameio_fake.calls == ["show_comment c1", "list_comments F1", "show_metadata F1",
                                      "show_metadata F1"], "one sync (and the file's timing, read once)"
        assert [e.body["detail"]["text"] for e in loop.outbound.events] == [f"note {n}" for n in range(5)]
        frameio_fake.complete("F1", "c3")
        await loop.reviews.on_review_event(event("comment.completed", "comment", "c3"))
        assert frameio_fake.calls[4:] == ["list_comments F1", "show_metadata F1"], "a known comment's file is known"
        assert loop.outbound.kinds()[5:] == ["comment_completed"]
