"""A Frame.io that holds comments, metadata and version stacks in memory (the review calls and
FrameioClient.list_version_stack), and the review loop built on it with a real ledger and store."""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from frameio.types import CommentWithIncludes, MetadataWithDefinition, SelectOption, User
from frameio.types.metadata_field import MetadataField_Number, MetadataField_Select, MetadataField_Text

from postflow.core.config import build_config
from postflow.frameio import ProjectRef, RequestFailed
from postflow.testing.watcher import make_job
from services.watcher.jobs import DONE, Job
from services.watcher.ledger import Ledger
from services.watcher.review.events import FrameioEvent
from services.watcher.review.metrics import ReviewMetrics
from services.watcher.review.reviews import Reviews
from services.watcher.review.store import ReviewStore
from services.watcher.scanner import FileStat

ACCOUNT = "acct-1"
PROJECT = "proj-1"


def event(kind: str, resource_type: str, resource_id: str, project_id: str = PROJECT) -> FrameioEvent:
    """A Frame.io webhook's event, as the receiver hands it over."""
    return FrameioEvent(type=kind, account_id=ACCOUNT, workspace_id="w", project_id=project_id, user_id="u",
                        resource_type=resource_type, resource_id=resource_id, received_at=time.time())


class Crash(Exception):
    """The process dies here."""


@dataclass
class FakeFrameio:
    comments: dict[str, list[CommentWithIncludes]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    fps: float = 25.0
    start: str = "01:00:00:00"
    stacks: dict[str, list[str]] = field(default_factory=dict)  # newest first
    posts: list[tuple[str, str]] = field(default_factory=list)  # (file id, text)
    calls: list[str] = field(default_factory=list)
    crash_after_post: bool = False
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def comment(self, file_id: str, text: str, *, frame: int | None = 10, author: str = "Alice",
                completed: bool = False, duration: int | None = None) -> CommentWithIncludes:
        """A reviewer comments on the file."""
        now = datetime.now(UTC)
        comment = CommentWithIncludes(
            id=f"c{next(self.ids)}", file_id=file_id, text=text, timestamp=frame, duration=duration,
            created_at=now, updated_at=now, completed_at=now if completed else None, links=[], mentions=[],
            owner=User(email=f"{author.lower()}@example.com", name=author))
        self.comments.setdefault(file_id, []).append(comment)
        return comment

    def complete(self, file_id: str, comment_id: str) -> None:
        now = datetime.now(UTC)
        self.comments[file_id] = [c.model_copy(update={"completed_at": now, "updated_at": now})
                                  if c.id == comment_id else c for c in self.comments[file_id]]

    async def list_comments(self, account_id: str, file_id: str) -> list[CommentWithIncludes]:
        self.calls.append(f"list_comments {file_id}")
        return list(self.comments.get(file_id, []))

    async def show_comment(self, account_id: str, comment_id: str) -> CommentWithIncludes:
        self.calls.append(f"show_comment {comment_id}")
        for comment in itertools.chain(*self.comments.values()):
            if comment.id == comment_id:
                return comment
        raise RequestFailed("show comment: HTTP 404 not found", 404)

    async def create_comment(self, account_id: str, file_id: str, text: str, *, timestamp: int | None = None,
                             duration: int | None = None) -> CommentWithIncludes:
        self.posts.append((file_id, text))
        created = self.comment(file_id, text, frame=timestamp, duration=duration, author="PostFlow")
        if self.crash_after_post:
            raise Crash("after the POST, before the record")
        return created

    async def show_metadata(self, account_id: str, file_id: str) -> MetadataWithDefinition:
        self.calls.append(f"show_metadata {file_id}")
        status = self.status.get(file_id)
        fields: list[Any] = [
            MetadataField_Number(field_definition_id="f1", field_definition_name="Frame Rate", mutable=False,
                                 value=self.fps),
            MetadataField_Text(field_definition_id="f2", field_definition_name="Start Timecode", mutable=False,
                               value=self.start),
            MetadataField_Number(field_definition_id="f3", field_definition_name="Duration", mutable=False,
                                 value=60.0),
            MetadataField_Select(field_definition_id="f4", field_definition_name="Status", mutable=True,
                                 value=[SelectOption(display_name=status, id="o1")] if status else [])]
        return MetadataWithDefinition(file_id=file_id, metadata=fields)

    async def list_version_stack(self, account_id: str, stack_id: str) -> list[Any]:
        return [SimpleNamespace(id=file_id, view_url=f"https://next.frame.io/view/{file_id}")
                for file_id in self.stacks[stack_id]]


class FakeClients:
    """ReviewClients over one FakeFrameio for every connection."""

    def __init__(self, frameio: FakeFrameio) -> None:
        self.frameio = frameio

    def client(self, connection: str) -> FakeFrameio:
        return self.frameio

    def review(self, connection: str) -> FakeFrameio:
        return self.frameio

    async def project_of(self, job: Job) -> ProjectRef:
        return ProjectRef(ACCOUNT, PROJECT, "root-folder")

    async def account_of(self, job: Job) -> str:
        return ACCOUNT


class FakeOutbound:
    """Records every event enqueued (no deduplication: a repeat shows)."""

    dashboard = "http://dash.example"

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def enqueue(self, events: Any, marks: Any = None) -> None:
        self.events.extend(events)

    def kinds(self) -> list[str]:
        return [event.type for event in self.events]


@dataclass
class Callbacks:
    statuses: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    async def on_status(self, job: Job, status: str) -> None:
        self.statuses.append((job.id, status))

    async def on_comments_changed(self, job: Job) -> None:
        self.changed.append(job.id)


@dataclass
class Loop:
    reviews: Reviews
    ledger: Ledger
    store: ReviewStore
    frameio: FakeFrameio
    outbound: FakeOutbound
    callbacks: Callbacks

    async def delivered(self, path: str, file_id: str, *, version: int = 1, stack_id: str = "",
                        pipeline: str = "default", at: float | None = None) -> Job:
        job = make_job(FileStat(path, 1000, time.time_ns(), 1)).replace(
            state=DONE, file_id=file_id, view_url=f"https://next.frame.io/view/{file_id}", version=version,
            stack_id=stack_id, pipeline=pipeline, delivered_at=time.time() if at is None else at)
        (created,), _ = await self.ledger.register([job], "delivered")
        return created


@contextlib.asynccontextmanager
async def review_loop(state: Path, frameio: FakeFrameio, review: dict[str, Any] | None = None,
                      outbound: FakeOutbound | None = None, metrics: ReviewMetrics | None = None):
    """The review loop on `state` (opening the same `state` again is a restart)."""
    config = build_config({"state_dir": str(state), "watch": {"root": str(state)}, "review": review or {}})
    ledger, store = Ledger(state / "ledger.sqlite"), ReviewStore(state / "review.sqlite")
    await ledger.open()
    await store.open()
    outbound = outbound or FakeOutbound()
    callbacks = Callbacks()
    reviews = Reviews(store, ledger, FakeClients(frameio), outbound, config,  # type: ignore[arg-type]
                      on_status=callbacks.on_status, on_comments_changed=callbacks.on_comments_changed,
                      metrics=metrics)
    try:
        yield Loop(reviews, ledger, store, frameio, outbound, callbacks)
    finally:
        await store.close()
        await ledger.close()
