"""One attempt at delivering one job, resumable from whatever the ledger says was done.

Every step is idempotent: the Frame.io file id is stored the moment Frame.io returns it,
and the time just before asking for it is stored before the call, so after a crash at any
point the attempt either finds the file it already created (by id, or by name, size and
creation time) or knows that nothing was created yet.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from frameio.types import FileWithIncludes

from postflow.core.config import Config
from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, from_rpc_error
from postflow.core.files import readable_stat
from postflow.core.telemetry import current_trace_context
from postflow.frameio import FrameioClient, RequestFailed
from postflow.v1 import common_pb2, streamer_pb2, streamer_pb2_grpc, watcher_pb2
from services.watcher import jobs
from services.watcher.folders import FolderMirror
from services.watcher.followers import TUNNEL_CHANGED, StreamerWatch
from services.watcher.jobs import PULL, PUSH, QUEUED, UPLOADING, VERIFYING, WAITING, Job
from services.watcher.ledger import Ledger

log = logging.getLogger(__name__)

CLOCK_SKEW_S = 120.0  # tolerance when matching a Frame.io creation time to our own clock
STALL_S = 600.0  # a pull with no progress and no completion for this long is retried
PROGRESS_WRITE_S = 1.0
MODES = {"auto": common_pb2.TRANSFER_MODE_AUTO, "pull": PULL, "push": PUSH}
TUNNEL_UP = streamer_pb2.TUNNEL_STATE_UP
TUNNEL_SETTLE_S = 5.0  # a quick tunnel's new hostname may not be routable for a moment


class FileState(enum.Enum):
    """Where an upload to a Frame.io file stands, as Frame.io reports it."""

    COMPLETE = "complete"
    IN_PROGRESS = "in progress"
    FAILED = "failed"
    GONE = "gone"


class RetryLater(Exception):
    """This attempt failed for a reason that may pass (counts as an attempt)."""


class JobFailed(Exception):
    """Trying again cannot help; the message says why."""


class SourceChanged(Exception):
    """The file on disk is not the content this job was created for."""


class Superseded(Exception):
    """The job moved on (cancelled, retried, restarted) while this attempt ran."""


class Reissue(Exception):
    """The tunnel changed (new URL, or died) under a pull in flight: publish again, pull again,
    without spending an attempt."""


@dataclass
class Deps:
    config: Config
    root: Path
    ledger: Ledger
    frameio: FrameioClient
    folders: FolderMirror
    streamer: streamer_pb2_grpc.StreamerServiceStub
    streamer_events: StreamerWatch


def streamer_error(exc: grpc.RpcError, what: str) -> Exception:
    """What a failed streamer call means for the job."""
    error = from_rpc_error(exc)
    if isinstance(error, FailedPrecondition):
        return SourceChanged(f"{what}: {error}")
    if isinstance(error, (NotFound, InvalidArgument, PermissionDenied)):
        return JobFailed(f"{what}: {error}")
    return RetryLater(f"{what}: streamer: {error}")


def published_under(url: str, base: str) -> bool:
    """Whether a publication URL lives under the tunnel's public base URL."""
    return bool(base) and url.startswith(base.rstrip("/") + "/")


class Attempt:
    def __init__(self, deps: Deps, job: Job) -> None:
        self.deps = deps
        self.job = job
        self.epoch = job.epoch
        self._last_write = 0.0
        self._last_activity = time.monotonic()  # the last transfer event seen
        self._shown: FileWithIncludes | None = None  # the file as show file last returned it, once uploaded
        self.counted = False  # this run started a new attempt (not resumed one cut short by a restart)

    @property
    def fio(self) -> FrameioClient:
        return self.deps.frameio

    async def save(self, change: jobs.Change) -> Job:
        job = await self.deps.ledger.update(self.job.id, self.epoch, change)
        if job is None:
            raise Superseded(self.job.id)
        self.job = job
        return job

    async def run(self) -> Job:
        if self.job.state in (QUEUED, WAITING):
            await self.save(jobs.start_attempt(self.job))
            self.counted = True
        await self.check_source()
        account_id = (await self.fio.project()).account_id
        await self.drop_stale_files(account_id)
        if not self.job.folder_id:
            await self.save(jobs.folder_ready(self.job, await self.deps.folders.ensure(self.job.destination)))
        while True:
            try:
                await self.deliver(account_id)
                break
            except Reissue:
                log.info("the tunnel changed under the pull; re-issuing it")
        return await self.finish(account_id)

    async def check_source(self) -> None:
        path = self.deps.root / self.job.path
        try:
            st = await asyncio.to_thread(readable_stat, path)
        except FileNotFoundError:
            raise JobFailed("the file is no longer in the watch folder") from None
        except PermissionError as exc:  # waiting will not change it; the user fixes it and retries
            raise JobFailed(f"cannot read the file: {exc.strerror}") from None
        except OSError as exc:
            raise RetryLater(f"cannot read the file: {exc.strerror}") from None
        if (st.st_size, st.st_mtime_ns) != (self.job.size, self.job.mtime_ns):
            raise SourceChanged("the file changed on disk")

    async def drop_stale_files(self, account_id: str) -> None:
        """Deletes the Frame.io files of attempts on earlier content of the file: the job was
        never done, and what they hold may be torn."""
        if not self.job.stale_file_ids:
            return
        for file_id in self.job.stale_file_ids:
            await self.delete(account_id, file_id)
        await self.save(jobs.stale_files_removed(self.job))

    # -- getting a complete file onto Frame.io -----------------------------------------------

    async def deliver(self, account_id: str) -> None:
        # Subscribed before anything is published, so no progress event is missed.
        events = self.deps.streamer_events
        queue = events.subscribe(self.job.id)
        try:
            await self._deliver(account_id, queue)
        finally:
            events.unsubscribe(self.job.id, queue)

    async def _deliver(self, account_id: str, queue: asyncio.Queue) -> None:
        job = self.job
        if job.file_id or job.create_started_at:
            file_id = job.file_id or await self.adopt(account_id)
            state = await self.file_state(account_id, file_id) if file_id else FileState.GONE
            if state == FileState.COMPLETE:
                return
            if state == FileState.IN_PROGRESS and job.mode == PULL and await self.publication_alive():
                log.info("resuming: Frame.io is still fetching the file")
                await self.follow(account_id, queue)
                return
            await self.discard(account_id, file_id)
        if await self.choose_mode() == PULL:
            await self.start_pull(account_id)
        else:
            await self.push(account_id)
        await self.follow(account_id, queue)

    async def file_state(self, account_id: str, file_id: str) -> FileState:
        try:
            status = await self.fio.upload_status(account_id, file_id)
        except RequestFailed as exc:
            if exc.status == 404:
                return FileState.GONE
            raise
        if status.upload_complete:
            return FileState.COMPLETE
        return FileState.FAILED if status.upload_failed else FileState.IN_PROGRESS

    async def adopt(self, account_id: str) -> str:
        """The file an earlier attempt created but did not live to record, if any."""
        job = self.job
        children = await self.fio.list_children(account_id, job.folder_id)
        mine = [c for c in children if c.type == "file" and c.name == job.name and c.file_size == job.size
                and c.created_at.timestamp() >= job.create_started_at - CLOCK_SKEW_S]
        owned = await self.deps.ledger.file_ids_in_use([c.id for c in mine], exclude_job=job.id)
        mine = sorted((c for c in mine if c.id not in owned), key=lambda c: c.created_at)
        if not mine:
            return ""
        for extra in mine[1:]:
            await self.delete(account_id, extra.id)
        log.info("found the Frame.io file an interrupted attempt created")
        await self.save(jobs.found_file(self.job, mine[0].id))
        return mine[0].id

    async def publication_alive(self) -> bool:
        job = self.job
        if not job.ticket_id:
            return False
        base = await self.public_base()
        if base and not published_under(job.source_url, base):
            return False
        try:
            publication = await self.deps.streamer.GetPublication(
                streamer_pb2.GetPublicationRequest(ticket_id=job.ticket_id), timeout=10)
        except grpc.RpcError as exc:
            if isinstance(from_rpc_error(exc), NotFound):
                return False
            raise RetryLater(f"streamer: {from_rpc_error(exc)}") from None
        return not publication.revoked and publication.expires_at.ToSeconds() > time.time()

    async def discard(self, account_id: str, file_id: str) -> None:
        """Forgets an attempt's file and publication (deleting the incomplete file)."""
        await self.revoke()
        if file_id:
            await self.delete(account_id, file_id)
        await self.save(jobs.discard_upload(self.job))

    async def delete(self, account_id: str, file_id: str) -> None:
        try:
            await self.fio.delete_file(account_id, file_id)
        except RequestFailed as exc:
            if exc.status != 404:
                raise

    async def revoke(self) -> None:
        if not self.job.ticket_id:
            return
        try:
            await self.deps.streamer.Revoke(streamer_pb2.RevokeRequest(ticket_id=self.job.ticket_id), timeout=10)
        except grpc.RpcError as exc:
            log.info("could not revoke the publication: %s", from_rpc_error(exc))

    async def blame_the_tunnel(self, url: str) -> None:
        """Frame.io could not read `url`. Raises Reissue (no attempt spent) when the tunnel is
        at fault: it died or moved meanwhile, or it came up so recently that the edge may not
        route its new hostname yet (then after giving it that moment). Returns otherwise."""
        tunnel = await self.up_tunnel(fresh=True)
        if tunnel is None or not published_under(url, tunnel.public_url):
            raise Reissue()
        settling = TUNNEL_SETTLE_S - (time.time() - tunnel.since.ToMicroseconds() / 1e6)
        if settling > 0:
            log.info("the tunnel came up %.1fs ago; giving the edge a moment", TUNNEL_SETTLE_S - settling)
            await asyncio.sleep(settling)
            raise Reissue()

    async def up_tunnel(self, fresh: bool = False) -> streamer_pb2.TunnelStatus | None:
        """The tunnel's status while it is up, else None."""
        tunnel = await self.deps.streamer_events.tunnel_status(fresh=fresh)
        return tunnel if tunnel is not None and tunnel.state == TUNNEL_UP else None

    async def public_base(self, fresh: bool = False) -> str:
        """The tunnel's public URL while it is up, else ""."""
        tunnel = await self.up_tunnel(fresh)
        return tunnel.public_url if tunnel is not None else ""

    async def choose_mode(self) -> int:
        config = self.deps.config.transfer
        requested = self.job.requested_mode or MODES[config.mode]
        if requested == PUSH:
            return PUSH
        up = bool(await self.public_base())
        if requested == PULL:
            if not up:
                raise RetryLater("pull requested, but the streamer's tunnel is not up")
            return PULL
        return PULL if up and self.job.size <= config.pull_max_bytes else PUSH

    async def start_pull(self, account_id: str) -> None:
        job = self.job
        try:
            publication = await self.deps.streamer.Publish(streamer_pb2.PublishRequest(
                path=job.path, size=job.size, mtime_ns=job.mtime_ns, job_id=job.id,
                trace_context=current_trace_context()), timeout=30)
        except grpc.RpcError as exc:
            raise streamer_error(exc, "publish") from None
        await self.save(jobs.published(self.job, publication.ticket_id, publication.url, time.time()))
        if not publication.url:
            await self.discard(account_id, "")
            raise RetryLater("the streamer has no public URL yet")
        try:
            file = await self.fio.create_remote_upload(account_id, job.folder_id, job.name, publication.url)
        except RequestFailed as exc:
            await self.discard(account_id, "")  # refused for good: Frame.io created nothing to look for
            if exc.status != 422:
                raise await self.creation_refused(exc) from None
            # Frame.io probes the URL before answering: an unreachable tunnel lands here.
            await self.blame_the_tunnel(publication.url)
            raise RetryLater(f"Frame.io could not read the published URL ({exc})") from None
        await self.save(jobs.upload_started(self.job, file.id))
        log.info("upload started: Frame.io pulls %s (%d bytes)", job.path, job.size)

    async def push(self, account_id: str) -> None:
        job = self.job
        await self.save(jobs.creating_push(self.job, time.time()))
        try:
            file = await self.fio.create_local_upload(account_id, job.folder_id, job.name, job.size)
        except RequestFailed as exc:
            raise await self.creation_refused(exc) from None
        await self.save(jobs.upload_started(self.job, file.id))
        log.info("upload started: pushing %s (%d bytes) in %d parts", job.path, job.size, len(file.upload_urls or []))
        request = streamer_pb2.PushRequest(
            path=job.path, size=job.size, mtime_ns=job.mtime_ns, content_type=file.media_type or "",
            parts=[streamer_pb2.UploadPart(size=part.size, url=part.url) for part in file.upload_urls or []],
            job_id=job.id, trace_context=current_trace_context())
        try:
            async for progress in self.deps.streamer.Push(request):
                await self.on_transfer(progress)
                if progress.phase == streamer_pb2.TRANSFER_PHASE_COMPLETE:
                    return
        except grpc.RpcError as exc:
            raise streamer_error(exc, "push") from None
        raise RetryLater("push: the streamer ended the push before every part was stored")

    async def creation_refused(self, exc: RequestFailed) -> Exception:
        """What a refused file creation means: a cached folder deleted on Frame.io is made
        again on the next attempt; anything else is final."""
        if exc.status != 404:
            return exc
        await self.deps.folders.forget()
        await self.save(jobs.folder_gone(self.job))
        return RetryLater(f"the Frame.io folder {self.job.destination or '(root)'} is gone; it will be made again")

    async def on_transfer(self, progress: streamer_pb2.TransferProgress) -> None:
        self._last_activity = time.monotonic()
        phase = progress.phase
        if phase == streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED:
            raise SourceChanged("the file changed on disk while it was being sent")
        if phase == streamer_pb2.TRANSFER_PHASE_FAILED:
            if progress.kind == streamer_pb2.TRANSFER_KIND_PUSH:
                raise RetryLater(f"push failed: {progress.error or 'unknown error'}")
            log.info("the puller disconnected after %d bytes; Frame.io may fetch again", progress.bytes_done)
            return
        if phase == streamer_pb2.TRANSFER_PHASE_COMPLETE and self.job.state == UPLOADING:
            log.debug("all %d bytes sent", self.job.size)
            await self.save(jobs.all_bytes_sent(self.job))
        else:
            await self.report(progress.bytes_done, progress.rate_bps)

    async def report(self, bytes_done: int, rate_bps: float) -> None:
        """Transfer progress into the job, written at most once a second (the streamer logs
        the 25/50/75 % milestones of the transfer itself)."""
        size = self.job.size or 1
        now = time.monotonic()
        if bytes_done > self.job.bytes_done and (now - self._last_write >= PROGRESS_WRITE_S or bytes_done >= size):
            self._last_write = now
            job = await self.deps.ledger.progress(self.job.id, self.epoch, bytes_done, rate_bps)
            if job is None:
                raise Superseded(self.job.id)
            self.job = job

    async def follow(self, account_id: str, queue: asyncio.Queue) -> None:
        """Until Frame.io reports the upload complete: streamer progress applied as it comes,
        status polled when the streamer says every byte went out or else with backoff (the
        status call is limited to 5/s for all jobs together), a tunnel change re-issuing the pull."""
        poll_s = self.deps.config.watch.status_poll_s
        interval = poll_s
        self._last_activity = time.monotonic()
        while True:
            await self.wait_for_transfer(account_id, queue, interval)
            if await self.shown_uploaded(account_id):
                return
            state = await self.file_state(account_id, self.job.file_id)
            if state == FileState.COMPLETE:
                return
            if state in (FileState.FAILED, FileState.GONE):
                pulled_from = self.job.source_url if self.job.mode == PULL else ""
                await self.discard(account_id, self.job.file_id if state == FileState.FAILED else "")
                if pulled_from:
                    await self.blame_the_tunnel(pulled_from)
                raise RetryLater("Frame.io could not fetch the file (upload failed)")
            interval = min(interval * 1.5, poll_s * 10)
            if time.monotonic() - self._last_activity > STALL_S:
                await self.discard(account_id, self.job.file_id)
                raise RetryLater(f"no progress for {STALL_S:.0f}s")

    async def shown_uploaded(self, account_id: str) -> bool:
        """Whether show file (10/s, and needed anyway for the view URL) already says the
        upload is complete; the status call (5/s for all jobs together) is kept for when it
        does not."""
        try:
            file = await self.fio.show_file(account_id, self.job.file_id)
        except RequestFailed as exc:
            if exc.status == 404:
                return False
            raise
        if file.status == "created":
            return False
        self._shown = file
        return True

    async def wait_for_transfer(self, account_id: str, queue: asyncio.Queue, timeout_s: float) -> None:
        """Applies streamer events for up to `timeout_s`; returns early once every byte went out."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return
            if item == TUNNEL_CHANGED and self.job.mode == PULL:
                if await self.file_state(account_id, self.job.file_id) == FileState.COMPLETE:
                    return
                await self.discard(account_id, self.job.file_id)
                raise Reissue()
            if isinstance(item, streamer_pb2.TransferProgress):
                await self.on_transfer(item)
                if item.phase == streamer_pb2.TRANSFER_PHASE_COMPLETE:
                    return

    # -- after the bytes are there ---------------------------------------------------------

    async def finish(self, account_id: str) -> Job:
        job = self.job
        await self.revoke()
        if job.state != VERIFYING:
            await self.save(jobs.verify(job))
        file = self._shown or await self.fio.show_file(account_id, job.file_id)
        if file.file_size != job.size:
            await self.discard(account_id, job.file_id)
            raise RetryLater(f"Frame.io holds {file.file_size} bytes, expected {job.size}")
        stack_id, version = await self.stack(account_id, file.parent_id or "")
        job = await self.save(jobs.deliver(self.job, file.view_url, stack_id, version))
        log.info("delivered %s%s: %s", job.path, f" as version {version}" if version else "", job.view_url)
        return job

    def wants_stack(self) -> bool:
        policy = self.job.version_policy
        if policy == watcher_pb2.VERSION_POLICY_UNSPECIFIED:
            return self.deps.config.watch.version_stacks
        return policy == watcher_pb2.VERSION_POLICY_STACK

    async def stack(self, account_id: str, parent_id: str) -> tuple[str, int]:
        """Puts the file on top of the version stack of its name in that folder (making a
        stack with the older file if there is none yet). (stack id, version) or ("", 0).
        Frame.io refusing (a full stack, a file moved meanwhile) leaves the delivered file
        where it is, unstacked: the upload itself succeeded."""
        job = self.job
        if not self.wants_stack():
            return "", 0
        if parent_id and parent_id != job.folder_id:
            stack_id = parent_id  # an earlier attempt stacked it already
        else:
            try:
                stack_id = await self.join_stack(account_id)
            except RequestFailed as exc:
                log.warning("delivered without stacking it: %s", exc)
                return "", 0
            if not stack_id:
                return "", 0
            await self.save(jobs.stacked(self.job, stack_id))
        return stack_id, len(await self.fio.list_version_stack(account_id, stack_id))

    async def join_stack(self, account_id: str) -> str:
        job = self.job
        same = [c for c in await self.fio.list_children(account_id, job.folder_id)
                if c.name == job.name and c.id != job.file_id]
        stacks = [c for c in same if c.type == "version_stack"]
        older = [c for c in same if c.type == "file" and c.status != "created"]
        if stacks:
            stack_id = max(stacks, key=lambda c: c.created_at).id
            await self.fio.add_to_version_stack(account_id, job.file_id, stack_id)
            return stack_id
        if older:
            previous = max(older, key=lambda c: c.created_at)
            return await self.fio.create_version_stack(account_id, job.folder_id, [previous.id, job.file_id])
        return ""
