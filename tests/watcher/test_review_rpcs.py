"""GetReview: by job id or by path, refreshed on request; unknown and undelivered refused by name."""

from types import SimpleNamespace

import grpc
import pytest

from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound
from postflow.testing.media import write_media
from postflow.testing.rpc import rpc_error
from postflow.testing.watcher import environment, make_job, start_watcher, wait_jobs
from postflow.v1 import watcher_pb2
from services.watcher.jobs import UPLOADING
from services.watcher.review.rpcs import ReviewCalls
from services.watcher.scanner import FileStat
from tests.watcher.review_fakes import FakeFrameio, review_loop


class Calls(ReviewCalls):
    def __init__(self, loop, roots: dict[str, str]) -> None:
        self.ledger = loop.ledger
        self.reviews = loop.reviews
        self.pipelines = SimpleNamespace(runs={name: SimpleNamespace(name=name, root=SimpleNamespace(
            as_posix=lambda root=root: root)) for name, root in roots.items()})


@pytest.mark.asyncio
async def test_get_review_by_id_and_by_path_with_comments_oldest_first_timing_and_status(tmp_path):
    frameio = FakeFrameio(fps=29.97, start="00:59:59;28", status={"F2": "Needs Review"})
    async with review_loop(tmp_path, frameio) as loop:
        calls = Calls(loop, {"default": "/mnt/OUT"})
        await loop.delivered("SQ01/cut.mov", "F1", version=1)
        job = await loop.delivered("SQ01/cut.mov", "F2", version=2)
        first = frameio.comment("F2", "first", frame=0)
        frameio.comment("F2", "second", frame=5, completed=True)
        empty = await calls.GetReview(watcher_pb2.GetReviewRequest(job_id=job.id), None)
        assert empty.job.id == job.id and not empty.comments and not empty.HasField("synced_at"), "not synced yet"

        review = await calls.GetReview(watcher_pb2.GetReviewRequest(job_id=job.id, refresh=True), None)
        assert [c.text for c in review.comments] == ["first", "second"]
        assert [c.completed for c in review.comments] == [False, True]
        assert review.comments[0].link == f"https://next.frame.io/view/F2?comment_id={first.id}"
        assert review.comments[0].version == 2 and review.comments[0].author_email == "alice@example.com"
        assert review.review_status == "Needs Review" and review.HasField("synced_at")
        assert (review.timing.rate_numerator, review.timing.rate_denominator, review.timing.drop_frame) == (
            30000, 1001, True)
        assert review.timing.start_frame == 107890 and review.timing.source == "frameio"

        for request in (watcher_pb2.GetReviewRequest(path="SQ01/cut.mov"),
                        watcher_pb2.GetReviewRequest(path="SQ01/cut.mov", pipeline="default"),
                        watcher_pb2.GetReviewRequest(path="/mnt/OUT/SQ01/cut.mov")):
            by_path = await calls.GetReview(request, None)
            assert by_path.job.id == job.id, "the newest delivered job of the path"
            assert len(by_path.comments) == 2


@pytest.mark.asyncio
async def test_get_review_refuses_the_unknown_and_the_undelivered_naming_them(tmp_path):
    async with review_loop(tmp_path, FakeFrameio()) as loop:
        calls = Calls(loop, {"default": "/mnt/OUT"})
        with pytest.raises(NotFound, match="no job nope"):
            await calls.GetReview(watcher_pb2.GetReviewRequest(job_id="nope"), None)
        with pytest.raises(NotFound, match="no job for SQ09/x.mov"):
            await calls.GetReview(watcher_pb2.GetReviewRequest(path="SQ09/x.mov"), None)
        with pytest.raises(NotFound, match="pipeline 'ads'"):
            await calls.GetReview(watcher_pb2.GetReviewRequest(path="x.mov", pipeline="ads"), None)
        with pytest.raises(InvalidArgument, match="job_id or path"):
            await calls.GetReview(watcher_pb2.GetReviewRequest(), None)
        uploading = make_job(FileStat("SQ02/y.mov", 10, 1, 1)).replace(state=UPLOADING)
        (uploading,), _ = await loop.ledger.register([uploading], "detected")
        with pytest.raises(FailedPrecondition, match="is uploading: not delivered yet"):
            await calls.GetReview(watcher_pb2.GetReviewRequest(path="SQ02/y.mov"), None)


@pytest.mark.asyncio
async def test_get_review_is_served_by_the_running_watcher(tmp_path):
    async with environment(tmp_path, watch={"include": ["*.mov"]}) as env:
        stub = await start_watcher(env)
        write_media(env.root / "cut.mov", 10_000)
        (done,) = await wait_jobs(stub, 1)
        review = await stub.GetReview(watcher_pb2.GetReviewRequest(path="cut.mov"))
        assert review.job.id == done.id and review.job.view_url == done.view_url
        error = await rpc_error(stub.GetReview(watcher_pb2.GetReviewRequest(job_id="nope")))
        assert error.code() == grpc.StatusCode.NOT_FOUND and "nope" in error.details()
