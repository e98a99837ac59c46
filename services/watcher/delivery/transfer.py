"""What the streamer reports about a transfer (a pull's progress from its event stream, a
push's from the Push call), applied to the job."""

from __future__ import annotations

import logging
import time

from postflow.v1 import streamer_pb2
from services.watcher import jobs
from services.watcher.delivery.errors import FileChangedOnDisk, RetryLater
from services.watcher.delivery.record import JobRecord

log = logging.getLogger(__name__)

PROGRESS_WRITE_S = 1.0
ACTIVE = streamer_pb2.TRANSFER_PHASE_ACTIVE
COMPLETE = streamer_pb2.TRANSFER_PHASE_COMPLETE
FAILED = streamer_pb2.TRANSFER_PHASE_FAILED
SOURCE_CHANGED = streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED


class Transfer:
    def __init__(self, record: JobRecord) -> None:
        self.record = record
        self.last_activity = time.monotonic()  # when the streamer last said anything about it
        self._last_write = 0.0

    async def apply(self, progress: streamer_pb2.TransferProgress) -> bool:
        """Applies one report; True once every byte went out."""
        self.last_activity = time.monotonic()
        if progress.phase == SOURCE_CHANGED:
            raise FileChangedOnDisk("the file changed on disk while it was being sent")
        if progress.phase == FAILED:
            if progress.kind == streamer_pb2.TRANSFER_KIND_PUSH:
                raise RetryLater(f"push failed: {progress.error or 'unknown error'}")
            log.info("the puller disconnected after %d bytes; Frame.io may fetch again", progress.bytes_done)
            return False
        if progress.phase == COMPLETE and self.record.job.state == jobs.UPLOADING:
            log.debug("all %d bytes sent", self.record.job.size)
            await self.record.apply(jobs.all_bytes_sent)
        else:
            await self._report(progress.bytes_done, progress.rate_bps)
        return progress.phase == COMPLETE

    async def _report(self, bytes_done: int, rate_bps: float) -> None:
        """Transfer progress into the job, written at most once a second (the streamer logs
        the 25/50/75 % milestones of the transfer itself)."""
        job = self.record.job
        now = time.monotonic()
        if bytes_done > job.bytes_done and (now - self._last_write >= PROGRESS_WRITE_S or bytes_done >= job.size):
            self._last_write = now
            await self.record.progress(bytes_done, rate_bps)
