"""Push: Frame.io hands out pre-signed part URLs (`local_upload`) and the streamer PUTs the
parts, read straight from the file, reporting progress on the Push call itself.

Frame.io has no way to sign new part URLs for an existing file, so when they expire before
every part is stored (a slow link, a long wait for bandwidth) the file's upload cannot be
finished: a fresh upload starts at once, in a new Frame.io file (the old one is discarded),
without spending one of the job's attempts (Attempt caps how often)."""

from __future__ import annotations

import logging
import time

import grpc

from postflow.core.telemetry import current_trace_context
from postflow.frameio import FrameioClient
from postflow.push_requests import push_requests
from postflow.v1 import streamer_pb2, streamer_pb2_grpc
from services.watcher import jobs
from services.watcher.delivery.errors import Reissue, RetryLater, streamer_error
from services.watcher.delivery.record import JobRecord
from services.watcher.delivery.transfer import Transfer

log = logging.getLogger(__name__)

URLS_EXPIRED = streamer_pb2.TRANSFER_PHASE_URLS_EXPIRED


class Push:
    """The pushes of one attempt."""

    def __init__(self, record: JobRecord, streamer: streamer_pb2_grpc.StreamerServiceStub, frameio: FrameioClient,
                 account_id: str) -> None:
        self.record = record
        self.streamer = streamer
        self.frameio = frameio
        self.account_id = account_id
        self._parts: list[streamer_pb2.UploadPart] = []
        self._content_type = ""

    async def start(self) -> None:
        """Creates the Frame.io file. A RequestFailed raised means Frame.io refused."""
        job = await self.record.apply(jobs.creating_push, time.time())
        file = await self.frameio.create_local_upload(self.account_id, job.folder_id, job.name, job.size)
        self._parts = [streamer_pb2.UploadPart(size=part.size, url=part.url) for part in file.upload_urls or []]
        self._content_type = file.media_type or ""
        await self.record.apply(jobs.upload_started, file.id)
        log.info("upload started: pushing %s (%d bytes) in %d parts", job.path, job.size, len(self._parts))

    async def send(self, transfer: Transfer) -> None:
        """Has the streamer PUT every part; returns once all are stored. Raises Reissue when
        the part URLs expired and a fresh upload may start."""
        job = self.record.job
        header = streamer_pb2.PushHeader(pipeline=job.pipeline, path=job.path, size=job.size, mtime_ns=job.mtime_ns,
                                         content_type=self._content_type, job_id=job.id,
                                         trace_context=current_trace_context())
        try:
            async for progress in self.streamer.Push(push_requests(header, self._parts)):
                if progress.phase == URLS_EXPIRED:
                    raise Reissue(f"the part URLs expired before every part was stored ({progress.error}); "
                                  "Frame.io cannot renew them, so a fresh upload starts")
                if await transfer.apply(progress):
                    return
        except grpc.RpcError as exc:
            raise streamer_error(exc, "push") from None
        raise RetryLater("push: the streamer ended the push before every part was stored")
