"""Delivering jobs to Frame.io: `Delivery.run` makes one attempt at a job and reports how it
went; `Delivery.clean_up` removes what a cancelled job left behind.

    attempt.py       the sequence and the resume logic
    pull.py          publish, remote_upload, tunnel blame, re-issue
    push.py          local_upload and the streamer's part PUTs
    transfer.py      the streamer's progress reports, applied to the job
    completion.py    waiting until Frame.io has the whole file
    nudges.py        Frame.io's webhooks ending that wait early
    frameio_file.py  one Frame.io file: state, adopt, discard, delete
    stacking.py      version stacks
    record.py        the attempt's writes to its job
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from postflow.core.config import Config
from postflow.core.errors import FailedPrecondition
from postflow.core.files import readable_stat
from postflow.frameio import RequestFailed
from postflow.v1 import streamer_pb2_grpc
from services.watcher import jobs
from services.watcher.connections import Destination, FrameioConnections
from services.watcher.delivery.attempt import Attempt
from services.watcher.delivery.errors import FileChangedOnDisk, JobFailed, RetryLater
from services.watcher.delivery.frameio_file import FrameioFile
from services.watcher.delivery.nudges import FileNudges
from services.watcher.delivery.pull import revoke
from services.watcher.delivery.record import JobRecord
from services.watcher.followers import StreamerWatch
from services.watcher.jobs import QUEUED, WAITING, Job
from services.watcher.ledger import Ledger
from services.watcher.routing import PipelineRoutes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliverySettings:
    mode: str  # transfer.mode: auto, pull or push
    pull_max_bytes: int
    status_poll_s: float
    processing_timeout_s: float  # after the last byte, how long Frame.io may take to finish the upload
    version_stacks: bool

    @classmethod
    def from_config(cls, config: Config) -> DeliverySettings:
        return cls(config.transfer.mode, config.transfer.pull_max_bytes, config.watch.status_poll_s,
                   config.watch.processing_timeout_s, config.watch.version_stacks)


@dataclass(frozen=True)
class Outcome:
    """How an attempt went: `error` is None when the job was delivered."""

    job: Job  # as the attempt last wrote it
    took_attempt: bool  # it started a new attempt (rather than resume one a restart cut short)
    error: Exception | None = None


class Delivery:
    def __init__(self, *, routes_of: Callable[[str], PipelineRoutes], ledger: Ledger,
                 connections: FrameioConnections, streamer: streamer_pb2_grpc.StreamerServiceStub,
                 streamer_events: StreamerWatch, settings: DeliverySettings, nudges: FileNudges) -> None:
        self.routes_of = routes_of  # a pipeline's routes by name; FailedPrecondition once it is removed
        self.ledger = ledger
        self.connections = connections
        self.streamer = streamer
        self.streamer_events = streamer_events
        self.settings = settings
        self.nudges = nudges  # poked by Frame.io's webhooks: a file's verification wait polls at once

    async def run(self, job: Job) -> Outcome:
        record = JobRecord(self.ledger, job)
        took_attempt = False
        try:
            if job.state in (QUEUED, WAITING):
                await record.apply(jobs.start_attempt)
                took_attempt = True
            await self._check_source(record.job)
            destination = await self.destination(record.job)
            return Outcome(await Attempt(self, record, destination).run(), took_attempt)
        except Exception as exc:  # the orchestrator decides what each error means
            return Outcome(record.job, took_attempt, exc)

    def routes(self, pipeline: str) -> PipelineRoutes:
        """The pipeline's routes; RetryLater while it is not in the config (its jobs wait for it)."""
        try:
            return self.routes_of(pipeline)
        except FailedPrecondition as exc:
            raise RetryLater(str(exc)) from None

    async def _check_source(self, job: Job) -> None:
        root = self.routes(job.pipeline).root
        try:
            st = await asyncio.to_thread(readable_stat, root / job.path)
        except FileNotFoundError:
            raise JobFailed("the file is no longer in the watch folder") from None
        except PermissionError as exc:  # waiting will not change it; the user fixes it and retries
            raise JobFailed(f"cannot read the file: {exc.strerror}") from None
        except OSError as exc:
            raise RetryLater(f"cannot read the file: {exc.strerror}") from None
        if (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns):
            raise FileChangedOnDisk("the file changed on disk")

    async def destination(self, job: Job) -> Destination:
        """The job's connection and project: a pipeline or connection removed from the config
        waits for it to come back; a project that cannot be found (or is ambiguous) fails the job."""
        try:
            routes = self.routes_of(job.pipeline)
            return await self.connections.destination(job.connection, job.project, routes.config.create_projects)
        except FailedPrecondition as exc:
            raise RetryLater(str(exc)) from None
        except RequestFailed as exc:
            raise JobFailed(f"{routes.project_key(job.route_rule)}: {exc}") from None

    async def clean_up(self, job: Job) -> None:
        """Best effort for a cancelled job: revoke its URL, delete its incomplete file."""
        try:
            await revoke(self.streamer, job.ticket_id)
            if job.file_id:
                destination = await self.destination(job)
                await FrameioFile(destination.frameio, destination.account_id, job.file_id).discard()
        except Exception as exc:  # nothing depends on it: say so and move on
            log.warning("could not clean up after the cancelled job: %s", exc)
