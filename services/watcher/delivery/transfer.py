"""What the streamer reports about a transfer (a pull's progress from its event stream, a
push's from the Push call), applied to the job: progress (bytes, rate, open connections)
kept with it, the last byte sent recorded, a failure or a changed file ending the attempt."""

from __future__ import annotations

import logging
import time

from postflow.v1 import streamer_pb2
from services.watcher import jobs
from services.watcher.delivery.errors import FileChangedOnDisk, RetryLater
from services.watcher.delivery.record import JobRecord

log = logging.getLogger(__name__)

COMPLETE = streamer_pb2.TRANSFER_PHASE_COMPLETE
FAILED = streamer_pb2.TRANSFER_PHASE_FAILED
SOURCE_CHANGED = streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED


class Transfer:
    def __init__(self, record: JobRecord) -> None:
        self.record = record
        self.last_activity = time.monotonic()  # when the streamer last said anything about it

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
        else:  # already coalesced by the streamer to a few a second
            await self.record.progress(progress.bytes_done, progress.rate_bps, progress.active_connections)
        return progress.phase == COMPLETE
