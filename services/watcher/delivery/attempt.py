"""One attempt at delivering a job, resumable from whatever the ledger says was done.

Every step is idempotent: the Frame.io file id is stored the moment Frame.io returns it,
and the time just before asking for it is stored before the call, so after a crash at any
point the attempt either finds the file it already created (by id, or by name, size and
creation time) or knows that nothing was created yet.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from frameio.types import FileWithIncludes

from postflow.core.config import REMOTE_UPLOAD_MAX_BYTES
from postflow.core.pubsub import Subscription
from postflow.frameio import RequestFailed
from postflow.v1 import common_pb2
from services.watcher import jobs
from services.watcher.delivery.completion import Completion
from services.watcher.delivery.errors import Reissue, RetryLater
from services.watcher.delivery.frameio_file import FileState, FrameioFile
from services.watcher.delivery.pull import Pull
from services.watcher.delivery.push import Push
from services.watcher.delivery.record import JobRecord
from services.watcher.delivery.stacking import Stacking
from services.watcher.delivery.transfer import Transfer
from services.watcher.followers import PullEvent
from services.watcher.jobs import PULL, PUSH, VERIFYING, Job

if TYPE_CHECKING:
    from services.watcher.connections import Destination
    from services.watcher.delivery import Delivery

log = logging.getLogger(__name__)

# A transfer started again more often in one attempt means the cause outlives it (part URLs
# that cannot outlive a push, a tunnel that keeps changing): the attempt is spent.
TRANSFER_RESTARTS = 3
MODE_BY_SETTING = {"auto": common_pb2.TRANSFER_MODE_AUTO, "pull": PULL, "push": PUSH}


class Attempt:
    """The steps after the attempt is counted and its file checked: in the job's project, on to
    a file in the job's Frame.io folder, verified and stacked."""

    def __init__(self, delivery: Delivery, record: JobRecord, destination: Destination) -> None:
        self.delivery = delivery
        self.record = record
        self.destination = destination
        self.frameio = destination.frameio
        self.account_id = account_id = destination.account_id
        self.pull = Pull(record, delivery.streamer, delivery.streamer_events, self.frameio, account_id)
        self.push = Push(record, delivery.streamer, self.frameio, account_id)
        self.completion = Completion(record, self.pull, self.file, self.discard, delivery.settings.status_poll_s,
                                     delivery.settings.processing_timeout_s, delivery.nudges)
        self._shown: FileWithIncludes | None = None  # the file as show file last returned it, once uploaded

    @property
    def job(self) -> Job:
        return self.record.job

    def file(self, file_id: str) -> FrameioFile:
        return FrameioFile(self.frameio, self.account_id, file_id)

    async def run(self) -> Job:
        await self.drop_stale_files()
        if not self.job.folder_id:
            folder_id = await self.destination.folders.ensure(self.destination.project, self.job.destination)
            await self.record.apply(jobs.folder_ready, folder_id)
        for restart in itertools.count():
            try:
                await self.deliver()
                break
            except Reissue as reissue:
                if restart == TRANSFER_RESTARTS:
                    raise RetryLater(f"{reissue}; {TRANSFER_RESTARTS + 1} transfers in a row") from None
                log.info("%s; starting the transfer again", reissue)
        return await self.finish()

    async def drop_stale_files(self) -> None:
        """Deletes the Frame.io files of attempts on earlier content of the file: the job was
        never done, and what they hold may be torn."""
        if self.job.stale_file_ids:
            for file_id in self.job.stale_file_ids:
                await self.file(file_id).delete()
            await self.record.apply(jobs.stale_files_removed)

    # -- getting a complete file onto Frame.io -----------------------------------------------

    async def deliver(self) -> None:
        """Resumes the transfer an interrupted attempt left if Frame.io still has it going,
        else starts one; returns once Frame.io has every byte."""
        with self.pull.events() as events:  # subscribed before anything is published: no progress is missed
            if await self._resumed(events):
                return
            if await self.choose_mode() == PULL:
                await self._create(self.pull.start)
                self._shown = await self.completion.wait(Transfer(self.record), events)
                return
        await self._create(self.push.start)
        transfer = Transfer(self.record)
        await self.push.send(transfer)
        self._shown = await self.completion.wait(transfer, None)

    async def _resumed(self, events: Subscription[PullEvent]) -> bool:
        """Whether the transfer of an interrupted attempt was seen through (else what it
        left is discarded). A file Frame.io has every byte of is waited for, never discarded
        while Frame.io is still processing it."""
        job = self.job
        if not (job.file_id or job.create_started_at):
            return False
        file = self.file(job.file_id) if job.file_id else await FrameioFile.adopt(
            self.frameio, self.account_id, job,
            lambda ids: self.delivery.ledger.file_ids_in_use(ids, exclude_job=job.id))
        if file is not None and not job.file_id:
            await self.record.apply(jobs.found_file, file.id)
        state = await file.state() if file is not None else FileState.GONE
        if state == FileState.COMPLETE:
            return True
        if state == FileState.IN_PROGRESS and (job.every_byte_sent or job.mode == PULL and await self.pull.alive()):
            log.info("resuming: Frame.io %s", "is processing the file" if job.every_byte_sent
                     else "is still fetching the file")
            self._shown = await self.completion.wait(Transfer(self.record), events)
            return True
        await self.discard(file)
        return False

    async def choose_mode(self) -> common_pb2.TransferMode:
        settings = self.delivery.settings
        requested = self.job.requested_mode or MODE_BY_SETTING[settings.mode]
        if requested == PUSH:
            return PUSH
        if requested == PULL and self.job.size > REMOTE_UPLOAD_MAX_BYTES:
            log.warning("pushing %s although pull was requested: %d bytes is over Frame.io's remote upload "
                        "limit of 50 GB", self.job.path, self.job.size)
            return PUSH
        up = bool(await self.pull.public_base())
        if requested == PULL:
            if not up:
                raise RetryLater("pull requested, but the streamer's tunnel is not up")
            return PULL
        return PULL if up and self.job.size <= settings.pull_max_bytes else PUSH

    async def _create(self, create: Callable[[], Awaitable[None]]) -> None:
        """Runs a transfer's creation of the Frame.io file. A refusal is final, except that a
        cached folder deleted on Frame.io is made again on the next attempt."""
        try:
            await create()
        except RequestFailed as exc:
            if exc.status != 404:
                raise
            await self.destination.folders.forget(self.destination.project)
            await self.record.apply(jobs.folder_gone)
            where = self.job.destination or "(root)"
            raise RetryLater(f"the Frame.io folder {where} is gone; it will be made again") from None

    async def discard(self, file: FrameioFile | None) -> None:
        """Forgets the attempt's file and publication (deleting the incomplete file)."""
        await self.pull.revoke()
        if file is not None:
            await file.delete()
        await self.record.apply(jobs.discard_upload)

    # -- after the bytes are there ---------------------------------------------------------

    async def finish(self) -> Job:
        await self.pull.revoke()
        if self.job.state != VERIFYING:
            await self.record.apply(jobs.verify)
        file = self._shown or await self.frameio.show_file(self.account_id, self.job.file_id)
        if file.file_size != self.job.size:
            await self.discard(self.file(self.job.file_id))
            raise RetryLater(f"Frame.io holds {file.file_size} bytes, expected {self.job.size}")
        stacking = Stacking(self.frameio, self.destination.folders.contents, self.account_id,
                            self.delivery.settings.version_stacks)
        stack_id, version = await stacking.stack(self.record, file.parent_id or "")
        after_delivery = self.delivery.routes(self.job.pipeline).config.after_delivery
        job = await self.record.apply(jobs.deliver, file.view_url, stack_id, version, after_delivery, time.time())
        log.info("delivered %s%s: %s", job.path, f" as version {version}" if version else "", job.view_url)
        return job
