"""A comment as the outbound events tell it ("comment_created", "comment_completed"): who, what,
where in the media (timecode and frame), on which version, and a link to it on Frame.io."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from postflow.markers.timing import MediaTiming
from postflow.v1 import watcher_pb2
from services.watcher.job_proto import to_proto
from services.watcher.jobs import Job
from services.watcher.outbound.events import Outgoing, iso_time, job_view
from services.watcher.review.store import StoredComment


def comment_link(view_url: str, comment_id: str) -> str:
    """The comment on Frame.io: the file's page, the comment named."""
    if not view_url:
        return ""
    return f"{view_url}{'&' if '?' in view_url else '?'}{urlencode({'comment_id': comment_id})}"


def timecode_of(frame: int, timing: watcher_pb2.MediaTiming) -> str:
    """The timecode of a comment's frame ("" for a comment on no frame)."""
    return MediaTiming.from_proto(timing).timecode(frame) if frame >= 0 else ""


def comment_detail(job: Job, comment: StoredComment, timing: watcher_pb2.MediaTiming) -> dict[str, Any]:
    return {"author": comment.author or comment.author_email, "text": comment.text,
            "timecode": timecode_of(comment.frame, timing), "frame": comment.frame, "version": job.version or 1,
            "link": comment_link(job.view_url, comment.id), "comment_id": comment.id}


def comment_event(kind: str, job: Job, comment: StoredComment, timing: watcher_pb2.MediaTiming,
                  dashboard: str, at: float) -> Outgoing:
    """`kind`: "comment_created" or "comment_completed"; its source is the comment's and the
    kind's, so a restart that announces it again makes no second delivery."""
    body = {"type": kind, "occurred_at": iso_time(at), "job": job_view(to_proto(job), dashboard),
            "detail": comment_detail(job, comment, timing)}
    return Outgoing(kind, f"{kind}-{comment.id}", body, frozenset({job.pipeline}))
