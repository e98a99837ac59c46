"""Following the review of the files PostFlow delivered: their comments and review status on
Frame.io, told to people as outbound events and handed to whoever acts on them.

A file is followed from its delivery for `review.follow_days` (0: none is). It is synced (its
comments listed, its metadata read, both compared with what the store holds) when a Frame.io
webhook says something about it (`on_review_event`) and by the sweep every
`review.poll_interval_s`, the fallback that catches whatever a webhook missed, spread over the
interval (Frame.io's pacing is the client's). A file just delivered (`wake`) is followed at once
(and comments carried onto it) but first synced by either of those.

What a sync finds: a comment new to PostFlow, and not one PostFlow made, is a "comment_created"
event; one newly completed a "comment_completed". Each is enqueued before it is recorded as
told, and its source is the comment's and the kind's, so a crash in between never tells it
twice. A file delivered before the store existed is synced once silently first (its baseline):
what it had then is not news. Then `on_comments_changed(job)` when its comments changed, and
`on_status(job, status)` when its review status did: the status is stored only once that went
through, so one a failure or a stop cut short is reported again (Approvals takes a repeat as one).

Carrying comments forward (services.watcher.review.carry) runs before a newly followed file's
first sync, under the same per-file lock, so a carried comment is known as PostFlow's own
before any sync can see it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from frameio.types import CommentWithIncludes

from postflow.core.config import Config
from postflow.core.errors import FailedPrecondition
from postflow.core.keyed_locks import KeyedLocks
from postflow.core.pipelines import pipelines_of
from postflow.core.review_config import ReviewActions
from postflow.frameio import FrameioError, RequestFailed
from postflow.v1 import watcher_pb2
from services.watcher.jobs import Job
from services.watcher.ledger import Ledger
from services.watcher.outbound.dispatcher import Outbound
from services.watcher.outbound.events import Outgoing
from services.watcher.review.announce import comment_event
from services.watcher.review.carry import CarryForward, frame_of
from services.watcher.review.clients import ReviewClients
from services.watcher.review.events import FrameioEvent
from services.watcher.review.followed import count_delivered_since, delivered_file, delivered_since
from services.watcher.review.metrics import ReviewMetrics
from services.watcher.review.store import FollowedFile, ReviewStore, StoredComment
from services.watcher.review.timing import DEFAULT_TIMING, TimingOf, media_timing, review_status

log = logging.getLogger(__name__)

OnStatus = Callable[[Job, str], Awaitable[None]]
OnCommentsChanged = Callable[[Job], Awaitable[None]]
IDLE_S = 60.0  # how soon the sweep looks again when nothing is followed, or after it failed


async def _nothing(*_: object) -> None:
    return None


def stored_comment(comment: CommentWithIncludes, carried_from: str) -> StoredComment:
    owner = comment.owner
    return StoredComment(
        id=comment.id, file_id=comment.file_id, text=comment.text, frame=frame_of(comment),
        duration=comment.duration or 0, author=(owner.name or "") if owner else "",
        author_email=owner.email if owner else "", created_at=_seconds(comment.created_at),
        updated_at=_seconds(comment.updated_at), completed_at=_seconds(comment.completed_at),
        carried_from=carried_from)


def _seconds(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


class Reviews:
    def __init__(self, store: ReviewStore, ledger: Ledger, clients: ReviewClients, outbound: Outbound,
                 config: Config, *, on_status: OnStatus = _nothing, on_comments_changed: OnCommentsChanged = _nothing,
                 timing_of: TimingOf | None = None, clock: Callable[[], float] = time.time,
                 metrics: ReviewMetrics | None = None) -> None:
        self.store = store
        self.ledger = ledger
        self.clients = clients
        self.outbound = outbound
        self.config = config  # replaced at a reload
        self.on_status = on_status
        self.on_comments_changed = on_comments_changed
        self.timing_of = timing_of or media_timing(clients)
        self.clock = clock
        self.metrics = metrics or ReviewMetrics()
        self.carry = CarryForward(store, clients)
        self.file_locks = KeyedLocks()
        self._delivered = asyncio.Event()

    def actions(self, pipeline: str) -> ReviewActions:
        own = next((p.review for p in pipelines_of(self.config) if p.name == pipeline), None)
        return self.config.review.actions(own)

    def since(self) -> float:
        """Files delivered from then on are followed (none when follow_days is 0)."""
        days = self.config.review.follow_days
        return self.clock() - days * 86400 if days > 0 else float("inf")

    async def followed(self) -> list[Job]:
        return await delivered_since(self.ledger, self.since())

    async def refresh_followed_metric(self) -> None:
        """Sets the metric of the files followed now (before a scrape)."""
        self.metrics.followed_files.set(await count_delivered_since(self.ledger, self.since()))

    # -- background: new deliveries, and the sweep ------------------------------------------

    def wake(self) -> None:
        """A job was delivered: follow it now."""
        self._delivered.set()

    async def run(self) -> None:
        await asyncio.gather(self._follow_deliveries(), self._poll())

    async def _follow_deliveries(self) -> None:
        """Starts following the files just delivered (those a restart left unfollowed, the
        sweep picks up, spread like the others)."""
        while True:
            await self._delivered.wait()
            self._delivered.clear()
            try:
                known = await self.store.followed_ids()
                for job in await self.followed():
                    if job.file_id not in known:
                        await self._quietly(self.follow_new, job)
            except Exception:
                log.exception("review: new deliveries not followed now; the sweep picks them up")

    async def _poll(self) -> None:
        while True:
            interval_s = self.config.review.poll_interval_s
            try:
                await self.sweep(interval_s)
            except Exception:
                log.exception("review: the sweep failed; the next one in %.0f s", min(interval_s, IDLE_S))
                await asyncio.sleep(min(interval_s, IDLE_S))

    async def sweep(self, interval_s: float) -> int:
        """Syncs every followed file once, spread over `interval_s`; how many there were. Its end
        is the metric of the last sweep, whatever each file's sync came to (those are logged)."""
        started = time.monotonic()
        jobs = await self.followed()
        if not jobs:
            await asyncio.sleep(min(interval_s, IDLE_S))
        gap = interval_s / max(1, len(jobs))
        for index, job in enumerate(jobs):
            await self._refresh_quietly(job)
            await asyncio.sleep(max(0.0, started + (index + 1) * gap - time.monotonic()))
        self.metrics.swept(self.clock())
        return len(jobs)

    async def _refresh_quietly(self, job: Job) -> None:
        await self._quietly(self.refresh, job)

    async def _quietly(self, action: Callable[[Job], Awaitable[object]], job: Job) -> None:
        try:
            await action(job)
        except (FrameioError, FailedPrecondition) as exc:  # Frame.io's trouble, or the connection gone from the config
            log.warning("review of %s (job %s): %s; trying again at the next sweep", job.path, job.id, exc)
        except Exception:
            log.exception("review of %s (job %s) failed; trying again at the next sweep", job.path, job.id)

    # -- Frame.io's webhooks ----------------------------------------------------------------

    async def on_review_event(self, event: FrameioEvent) -> None:
        """A Frame.io event (checked by the receiver): the file it concerns is synced now if
        PostFlow follows it; otherwise one INFO line says why nothing happens. Frame.io
        trouble is logged: the sweep catches up."""
        if event.type.startswith("comment."):
            file_id = await self._file_of_comment(event)
        elif event.resource_type == "file" and (event.type.startswith("file.")
                                                or event.type == "metadata.value.updated"):
            file_id = event.resource_id
        else:
            log.info("Frame.io event %s on %s %s: not one the review loop acts on", event.type,
                     event.resource_type or "resource", event.resource_id)
            return
        if not file_id:
            return
        followed = await self.store.file(file_id)
        if followed is not None and followed.synced_at > event.received_at:
            return  # synced since this event came in (a burst of them): that sync saw what it says
        job = await delivered_file(self.ledger, file_id, self.since())
        if job is None:
            log.info("Frame.io event %s: file %s is not one PostFlow delivered and follows; ignored",
                     event.type, file_id)
            return
        await self._refresh_quietly(job)

    async def _file_of_comment(self, event: FrameioEvent) -> str:
        """The file of the event's comment, from the store when it knows the comment, else
        from Frame.io ("" with an INFO line when PostFlow cannot know it)."""
        comment_id = event.resource_id
        file_id = await self.store.file_of_comment(comment_id)
        if file_id is not None:
            return file_id
        if event.type == "comment.deleted":
            log.info("Frame.io event comment.deleted: comment %s was on no file PostFlow follows; ignored",
                     comment_id)
            return ""
        connection = await self.store.connection_of(event.account_id, event.project_id)
        if connection is None:
            where = f"project {event.project_id}" if event.project_id else f"account {event.account_id or '(none)'}"
            log.info("Frame.io event %s: %s holds no file PostFlow follows; ignored", event.type, where)
            return ""
        try:
            comment = await self.clients.review(connection).show_comment(event.account_id, comment_id)
        except RequestFailed as exc:
            log.info("Frame.io event %s: comment %s cannot be read (%s); ignored", event.type, comment_id, exc)
            return ""
        return comment.file_id

    # -- one file ---------------------------------------------------------------------------

    async def refresh(self, job: Job) -> FollowedFile:
        """Follows the job's file (carrying comments onto it first when that is due) and syncs it."""
        async with self.file_locks.hold(job.file_id):
            file = await self._follow_and_carry(job)
            return await self._sync(job, file)

    async def follow_new(self, job: Job) -> FollowedFile:
        """Follows a file just delivered, carrying comments onto it when that is due. Its first
        sync is a webhook's or the sweep's: a file just delivered has no comments of its own yet,
        and asking would cost two Frame.io calls per delivery."""
        async with self.file_locks.hold(job.file_id):
            return await self._follow_and_carry(job)

    async def _follow_and_carry(self, job: Job) -> FollowedFile:
        file = await self._follow(job)
        if file.carry_due:
            try:
                await self.carry.carry(job, file.account_id)
            except RequestFailed as exc:  # refused for good: the stack or the old version is gone
                log.warning("comments not carried onto %s v%d: %s", job.path, job.version, exc)
            await self.store.carried_over(job.file_id)
            file = dataclasses.replace(file, carry_due=False)
        return file

    async def _follow(self, job: Job) -> FollowedFile:
        file = await self.store.file(job.file_id)
        if file is not None:
            return file
        carry = self.actions(job.pipeline).carry_comments and job.version > 1 and bool(job.stack_id)
        project = await self.clients.project_of(job)
        return await self.store.follow(FollowedFile(
            job.file_id, job.id, project.account_id, job.connection, job.pipeline, carry_due=carry,
            baseline=job.delivered_at < self.store.created_at, project_id=project.project_id))

    async def _sync(self, job: Job, file: FollowedFile) -> FollowedFile:
        review = self.clients.review(job.connection)
        now = self.clock()  # what Frame.io had then is known once this sync is stored
        listed = await review.list_comments(file.account_id, file.file_id)
        status = review_status((await review.show_metadata(file.account_id, file.file_id)).metadata)
        stored = {comment.id: comment for comment in await self.store.comments(file.file_id, deleted=True)}
        carried = {new: source for source, new in (await self.store.carried_into(file.file_id)).items() if new}
        changed: list[StoredComment] = []
        tell: list[tuple[str, StoredComment]] = []
        for comment in (stored_comment(c, carried.get(c.id, "")) for c in listed):
            old = stored.pop(comment.id, None)
            if old is not None:
                comment = dataclasses.replace(comment, created_told=old.created_told,
                                              completed_told=old.completed_told)
            elif file.baseline or comment.carried_from:
                comment = dataclasses.replace(comment, created_told=True,
                                              completed_told=file.baseline and bool(comment.completed_at))
            news = [kind for kind, due in (("comment_created", not comment.created_told),
                                           ("comment_completed", comment.completed_at and not comment.completed_told))
                    if due]
            tell += [(kind, comment) for kind in news]
            if old is None or news or not old.same_content(comment):
                changed.append(comment)
        changed += [dataclasses.replace(gone, deleted_at=now) for gone in stored.values() if not gone.deleted_at]
        if tell:
            events = self._events(job, tell, await self.timing(job, file), now)
            await self.outbound.enqueue(events)
            self.metrics.told(events)
            changed = [dataclasses.replace(c, created_told=True,
                                           completed_told=c.completed_told or bool(c.completed_at)) for c in changed]
        await self.store.save_comments(changed)
        if changed:
            await self._tell_callback("on_comments_changed", self.on_comments_changed(job))
        # The status is stored once reported: one not taken in (a failure, a stop) is reported again.
        if (status != file.review_status and not file.baseline
                and not await self._tell_callback("on_status", self.on_status(job, status))):
            status = file.review_status
        await self.store.synced(file.file_id, status, now)
        return dataclasses.replace(file, review_status=status, synced_at=now, baseline=False)

    def _events(self, job: Job, tell: list[tuple[str, StoredComment]], timing: watcher_pb2.MediaTiming,
                now: float) -> list[Outgoing]:
        dashboard = self.outbound.dashboard
        return [comment_event(kind, job, comment, timing, dashboard,
                              (comment.completed_at if kind == "comment_completed" else comment.created_at) or now)
                for kind, comment in tell]

    async def _tell_callback(self, name: str, call: Awaitable[None]) -> bool:
        """Whether `call` went through (a failure is logged)."""
        try:
            await call
        except Exception:
            log.exception("review: %s failed", name)
            return False
        return True

    async def timing(self, job: Job, file: FollowedFile) -> watcher_pb2.MediaTiming:
        """The file's timing, kept once known (the default is not kept: Frame.io may know more later)."""
        if file.timing is not None:
            return file.timing
        try:
            timing = await self.timing_of(job)
        except Exception as exc:
            log.warning("timing of %s: %s; timecodes count from 00:00:00:00 at 25 fps", job.path, exc)
            return DEFAULT_TIMING
        if timing.source != DEFAULT_TIMING.source:
            await self.store.save_timing(file.file_id, timing)
        return timing
