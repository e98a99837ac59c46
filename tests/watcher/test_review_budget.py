"""The review loop's Frame.io calls spend buckets of their own: a sweep over many files never
makes a delivery's calls (a project shown, a failed upload deleted) wait for the pace."""

import httpx
import pytest

from postflow.frameio_limits import RATE_LIMITS
from postflow.frameio_review import FrameioReview
from postflow.testing.frameio_mock import ManualTime, mock_client

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
