"""GetReview: a delivered file's comments, timing and review status, as the watcher knows them
(or as Frame.io says now, with `refresh`)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TypeAlias

import grpc

from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from postflow.core.protos import timestamp
from postflow.frameio import FrameioError
from postflow.v1 import watcher_pb2
from services.watcher.job_proto import to_proto
from services.watcher.jobs import DONE, Job, state_name
from services.watcher.ledger import Ledger
from services.watcher.pipelines import Pipelines
from services.watcher.review.announce import comment_link
from services.watcher.review.followed import newest_of_path
from services.watcher.review.reviews import Reviews
from services.watcher.review.store import FollowedFile, StoredComment

Context: TypeAlias = grpc.aio.ServicerContext


def comment_proto(comment: StoredComment, job: Job) -> watcher_pb2.ReviewComment:
    return watcher_pb2.ReviewComment(
        id=comment.id, text=comment.text, frame=comment.frame, duration_frames=comment.duration,
        author=comment.author, author_email=comment.author_email, created_at=timestamp(comment.created_at),
        completed=bool(comment.completed_at),
        completed_at=timestamp(comment.completed_at) if comment.completed_at else None,
        link=comment_link(job.view_url, comment.id), carried_from=comment.carried_from, version=job.version or 1)


async def review_of(reviews: Reviews, job: Job, file: FollowedFile | None) -> watcher_pb2.Review:
    """The Review of a delivered job as the watcher knows it."""
    answer = watcher_pb2.Review(job=to_proto(job))
    if file is None:
        return answer
    answer.comments.extend(comment_proto(comment, job) for comment in await reviews.store.comments(job.file_id))
    answer.timing.CopyFrom(await reviews.timing(job, file))
    answer.review_status = file.review_status
    if file.synced_at:
        answer.synced_at.CopyFrom(timestamp(file.synced_at))
    return answer


class ReviewCalls:
    ledger: Ledger
    pipelines: Pipelines
    reviews: Reviews | None

    async def GetReview(self, request: watcher_pb2.GetReviewRequest, context: Context) -> watcher_pb2.Review:
        reviews = self.reviews
        if reviews is None:
            raise FailedPrecondition("the review loop is not running")
        job = await self._reviewed_job(request)
        file = await reviews.store.file(job.file_id)
        if request.refresh:
            try:
                file = await reviews.refresh(job)
            except FrameioError as exc:
                raise Unavailable(f"Frame.io: {exc}") from None
        return await review_of(reviews, job, file)

    async def _reviewed_job(self, request: watcher_pb2.GetReviewRequest) -> Job:
        if request.job_id:
            job = await self.ledger.get(request.job_id)
            if job is None:
                raise NotFound(f"job_id: no job {request.job_id}")
        elif request.path.strip():
            pipeline, path = self._where(request.path.strip(), request.pipeline)
            job = await newest_of_path(self.ledger, path, pipeline)
            if job is None:
                raise NotFound(f"path: no job for {path}" + (f" in pipeline {pipeline}" if pipeline else ""))
        else:
            raise InvalidArgument("job_id or path: required")
        if job.state != DONE or not job.file_id:
            raise FailedPrecondition(f"job {job.id} ({job.path}) is {state_name(job.state)}: not delivered yet")
        return job

    def _where(self, path: str, pipeline: str) -> tuple[str, str]:
        """(pipeline, path relative to its root): an absolute path names the pipeline whose
        root holds it; a relative one is looked for in `pipeline` ("" = in any)."""
        if pipeline and pipeline not in self.pipelines.runs:
            raise NotFound(f"pipeline {pipeline!r}: no such pipeline (known: {', '.join(self.pipelines.runs)})")
        given = PurePosixPath(path)
        if not given.is_absolute():
            return pipeline, given.as_posix()
        for run in self.pipelines.runs.values():
            if (not pipeline or run.name == pipeline) and given.is_relative_to(run.root.as_posix()):
                return run.name, given.relative_to(run.root.as_posix()).as_posix()
        raise InvalidArgument(f"path: {path} is not inside the root of " + (f"pipeline {pipeline}" if pipeline
                                                                            else "any pipeline"))
