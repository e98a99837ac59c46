"""How jobs come in, by one path for the scan loop and SubmitFile: rows made here, on the
event loop, then recorded by the ledger in one transaction; attempts on older content
stopped, the orchestrator woken.

Every new job starts a trace of its own: a root span `postflow.upload` whose context is
stored with the job, so every later attempt, even after a restart, joins the same trace.
The span is made where the job's cause is current (SubmitFile's call span is linked to it)
and ends once the job is recorded; a row the ledger turns down (its content has a job
already, or it restarts an unfinished job) ends nothing, so its span is never exported.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import posixpath
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, Tracer

from postflow.core.config import Config
from postflow.core.errors import InvalidArgument, NotFound
from postflow.core.logs import job_id_var
from postflow.core.telemetry import context_from, current_trace_context, trace_id_hex
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.jobs import CANCELLED, FAILED, QUEUED, Job, new_job_id, retry
from services.watcher.ledger import Ledger
from services.watcher.orchestrator import Orchestrator
from services.watcher.scanner import FileStat

log = logging.getLogger(__name__)


class Origin(enum.StrEnum):
    DETECTED = "detected"
    SUBMITTED = "submitted"


@contextlib.contextmanager
def job_scope(job: Job) -> Iterator[None]:
    """Log lines inside carry the job's id and trace id."""
    token = job_id_var.set(job.id)
    attached = otel_context.attach(context_from(common_pb2.TraceContext(traceparent=job.traceparent)))
    try:
        yield
    finally:
        otel_context.detach(attached)
        job_id_var.reset(token)


@dataclass(frozen=True)
class NewJob:
    """A row for the ledger and the root span of its trace (ended once the row is recorded)."""

    row: Job
    span: Span


class JobIntake:
    def __init__(self, config: Config, ledger: Ledger, orchestrator: Orchestrator, tracer: Tracer) -> None:
        self.config = config
        self.ledger = ledger
        self.orchestrator = orchestrator
        self.tracer = tracer
        self.pipeline = "default"

    def new(self, file: FileStat, *, destination: str | None = None, version_policy: int = 0,
            mode: common_pb2.TransferMode = common_pb2.TRANSFER_MODE_UNSPECIFIED) -> NewJob:
        """A queued job for `file`, its trace started here (linked to the current span)."""
        job_id = new_job_id()
        if destination is None:
            destination = posixpath.dirname(file.path) if self.config.watch.mirror_folders else ""
        caller = trace.get_current_span().get_span_context()
        span = self.tracer.start_span(
            "postflow.upload", context=otel_context.Context(), links=[Link(caller)] if caller.is_valid else None,
            attributes={"postflow.job_id": job_id, "postflow.path": file.path, "postflow.size": file.size})
        with trace.use_span(span):
            carrier = current_trace_context()
        now = time.time()
        return NewJob(Job(
            id=job_id, path=file.path, size=file.size, mtime_ns=file.mtime_ns, inode=file.inode, state=QUEUED,
            max_attempts=self.config.watch.max_attempts, created_at=now, updated_at=now,
            destination=destination.strip("/"), version_policy=version_policy, requested_mode=mode,
            trace_id=trace_id_hex(span), traceparent=carrier.traceparent, tracestate=carrier.tracestate), span)

    async def register(self, new_jobs: Sequence[NewJob], origin: Origin) -> list[Job]:
        """Records the jobs (see Ledger.register); returns those created or restarted."""
        created, restarted = await self.ledger.register([new.row for new in new_jobs], origin)
        spans = {new.row.id: new.span for new in new_jobs}
        for job in created:
            spans[job.id].end()
            _log_queued(job, origin, restarted=False)
        for job in restarted:
            await self.orchestrator.stop_attempt(job.id)
            _log_queued(job, origin, restarted=True)
        if created or restarted:
            self.orchestrator.wake()
        return created + restarted

    async def stable(self, files: Sequence[FileStat]) -> None:
        """Files the scanner found stable: each content the ledger does not know becomes a job."""
        unknown = await self.ledger.unknown(self.pipeline, files)
        if unknown:
            await self.register([self.new(file) for file in unknown], Origin.DETECTED)


def _log_queued(job: Job, origin: Origin, *, restarted: bool) -> None:
    with job_scope(job):
        if origin == Origin.SUBMITTED:
            log.info("submitted %s (%d bytes); queued", job.path, job.size)
        elif restarted:
            log.info("%s changed on disk; starting again on the new content", job.path)
        else:
            log.info("detected %s (%d bytes), stable; queued", job.path, job.size)


class Submissions:
    """SubmitFile: queue a file inside the watch root now, without waiting for the scanner."""

    def __init__(self, root: Path, intake: JobIntake) -> None:
        self.root = root
        self.intake = intake

    def relative(self, path: str) -> str:
        if not path.strip():
            raise InvalidArgument("path: required (absolute, or relative to the watch root)")
        candidate = Path(path)
        candidate = candidate if candidate.is_absolute() else self.root / candidate
        resolved = Path(os.path.realpath(candidate))
        if not resolved.is_relative_to(self.root) or resolved == self.root:
            raise InvalidArgument(f"path: {path} is not inside the watch root {self.root}")
        return resolved.relative_to(self.root).as_posix()

    async def submit(self, request: watcher_pb2.SubmitFileRequest) -> Job:
        relpath = self.relative(request.path)
        try:
            st = await asyncio.to_thread(os.stat, self.root / relpath)
        except FileNotFoundError:
            raise NotFound(f"path: {relpath} does not exist in the watch root") from None
        if not stat.S_ISREG(st.st_mode):
            raise InvalidArgument(f"path: {relpath} is not a regular file")
        if st.st_size == 0:
            raise InvalidArgument(f"path: {relpath} is empty")
        ledger = self.intake.ledger
        existing = await ledger.find(self.intake.pipeline, relpath, st.st_size, st.st_mtime_ns)
        if existing is None:
            file = FileStat(relpath, st.st_size, st.st_mtime_ns, st.st_ino)
            new = self.intake.new(file, destination=request.destination or None,
                                  version_policy=request.version_policy, mode=request.mode)
            registered = await self.intake.register([new], Origin.SUBMITTED)
            existing = registered[0] if registered else await ledger.find(self.intake.pipeline, relpath, st.st_size,
                                                                                st.st_mtime_ns)
            assert existing is not None  # registered now, or by the scanner a moment before
        elif existing.state in (FAILED, CANCELLED):
            existing = await ledger.change(existing.id, lambda job: retry(job, "submitted again"))
            self.intake.orchestrator.wake()
        return existing
