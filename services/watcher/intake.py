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
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, Tracer

from postflow.core.config import Config
from postflow.core.logs import job_id_var
from postflow.core.telemetry import context_from, current_trace_context, trace_id_hex
from postflow.v1 import common_pb2
from services.watcher.delivery.attempt import MODE_BY_SETTING
from services.watcher.jobs import QUEUED, Job, new_job_id
from services.watcher.ledger import Ledger
from services.watcher.orchestrator import Orchestrator
from services.watcher.routing import NotRouted, PipelineRoutes
from services.watcher.scanner import FileStat, Scanner
from services.watcher.sightings import Sightings

log = logging.getLogger(__name__)


class Origin(enum.StrEnum):
    DETECTED = "detected"
    SUBMITTED = "submitted"
    RESCAN = "queued by a rescan"


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
    def __init__(self, config: Config, ledger: Ledger, sightings: Sightings, orchestrator: Orchestrator,
                 tracer: Tracer) -> None:
        self.config = config
        self.ledger = ledger
        self.sightings = sightings
        self.orchestrator = orchestrator
        self.tracer = tracer

    def new(self, file: FileStat, routes: PipelineRoutes, *, destination: str | None = None,
            version_policy: int = 0, mode: common_pb2.TransferMode = common_pb2.TRANSFER_MODE_UNSPECIFIED,
            check_filter: bool = True) -> NewJob:
        """A queued job for `file` where its pipeline routes it (NotRouted if nowhere), its trace
        started here (linked to the current span). `destination` overrides the routed folder."""
        route = routes.route(file.path, check_filter=check_filter)
        job_id = new_job_id()
        caller = trace.get_current_span().get_span_context()
        span = self.tracer.start_span(
            "postflow.upload", context=otel_context.Context(), links=[Link(caller)] if caller.is_valid else None,
            attributes={"postflow.job_id": job_id, "postflow.path": file.path, "postflow.size": file.size,
                        "postflow.pipeline": route.pipeline})
        with trace.use_span(span):
            carrier = current_trace_context()
        now = time.time()
        return NewJob(Job(
            id=job_id, path=file.path, size=file.size, mtime_ns=file.mtime_ns, inode=file.inode, state=QUEUED,
            max_attempts=self.config.watch.max_attempts, created_at=now, updated_at=now,
            destination=(route.folder if destination is None else destination).strip("/"),
            version_policy=version_policy, requested_mode=mode or MODE_BY_SETTING[route.mode],
            pipeline=route.pipeline, connection=route.connection, project=route.project, route_rule=route.rule,
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

    async def started(self, routes: PipelineRoutes, scanner: Scanner) -> None:
        """The pipeline's first look at its root: the first ever with on_start "new-only"
        records every file there as seen, none of them uploaded."""
        pipeline = routes.config
        if not await self.sightings.first_start(pipeline.name) or pipeline.on_start != "new-only":
            return
        present = list(scanner.settle(lambda size, since: True))
        await self.sightings.record_seen(pipeline.name, present)
        log.info("pipeline %s: first start with on_start \"new-only\": %d files already there recorded as seen, "
                 "not uploaded (`postflow rescan --pipeline %s --upload-existing` ships them)",
                 pipeline.name, len(present), pipeline.name)

    async def stable(self, routes: PipelineRoutes, files: Sequence[FileStat]) -> None:
        """Files the scanner found stable: each content the ledger does not know becomes a job
        where its pipeline routes it, or is listed as unrouted."""
        name = routes.config.name
        unknown = await self.ledger.unknown(name, files)
        new_jobs, unrouted = [], []
        for file in unknown:
            try:
                new_jobs.append(self.new(file, routes))
            except NotRouted as exc:
                unrouted.append((file, str(exc)))
        if unrouted:
            await self.sightings.record_unrouted(name, unrouted)
            log.info("pipeline %s: %d files unrouted (listed, not uploaded), e.g. %s", name, len(unrouted),
                     unrouted[0][1])
        if new_jobs:
            await self.sightings.forget_unrouted(name, [new.row.path for new in new_jobs])
            await self.register(new_jobs, Origin.DETECTED)

    async def removed(self, pipeline: str, paths: Sequence[str]) -> None:
        if paths:
            await self.sightings.forget_unrouted(pipeline, paths)

    async def upload_existing(self, routes: PipelineRoutes) -> int:
        """Queues the files recorded as seen at the pipeline's first start that are still there
        unchanged; returns how many. Those that changed since are new content the scanner ships."""
        name = routes.config.name
        seen = await self.sightings.seen(name)
        unchanged = [file for file, st in zip(seen, await asyncio.to_thread(_stats, routes.root, seen), strict=True)
                     if st is not None and (st.st_size, st.st_mtime_ns) == (file.size, file.mtime_ns)]
        new_jobs = []
        for file in unchanged:
            with contextlib.suppress(NotRouted):
                new_jobs.append(self.new(file, routes))
        await self.sightings.forget_seen(name, seen)
        return len(await self.register(new_jobs, Origin.RESCAN))


def _stats(root: Path, files: Sequence[FileStat]) -> list[os.stat_result | None]:
    stats: list[os.stat_result | None] = []
    for file in files:
        try:
            stats.append(os.stat(root / file.path))
        except OSError:
            stats.append(None)
    return stats


def _log_queued(job: Job, origin: Origin, *, restarted: bool) -> None:
    with job_scope(job):
        if origin == Origin.SUBMITTED:
            log.info("submitted %s (%d bytes); queued", job.path, job.size)
        elif restarted:
            log.info("%s changed on disk; starting again on the new content", job.path)
        else:
            log.info("detected %s (%d bytes), stable; queued", job.path, job.size)
