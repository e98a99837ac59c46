"""Runs jobs: at most `watch.max_concurrent` attempts at once and each pipeline's own
`max_concurrent`; attempts interrupted by a restart first, then queued jobs taking turns across
pipelines (so one pipeline's storm does not hold up another's first file), oldest first within
each. Decides what an attempt's outcome means: done, back off
and retry, wait for Frame.io to be reconnected, wait for the file to settle, or fail."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry.trace import Tracer

from postflow.core.backoff import backoff_delay
from postflow.core.config import WatchConfig
from postflow.core.fair import FAIR_SHARE
from postflow.core.logs import job_id_var
from postflow.core.telemetry import context_from
from postflow.frameio import RateLimited, ReconnectNeeded, RequestFailed, TransientError
from postflow.v1 import common_pb2
from services.watcher import jobs
from services.watcher.delivery import Delivery, Outcome
from services.watcher.delivery.errors import FileChangedOnDisk, JobFailed, RetryLater, Superseded
from services.watcher.followers import AuthWatch
from services.watcher.jobs import CANCELLED, FAILED, Change, Conflict, Job
from services.watcher.ledger import Ledger
from services.watcher.metrics import AttemptMetrics
from services.watcher.scanner import MODIFIED, REMOVED
from services.watcher.scanner import Change as FileChange

if TYPE_CHECKING:
    from services.watcher.pipelines import Pipelines

log = logging.getLogger(__name__)

RECONNECT_PROBE_S = 60.0  # try a job again this often even if auth has not said "connected"
MIN_SLEEP_S = 0.05
FILE_REMOVED = "the file was removed from the watch folder"


def fair_order(candidates: list[Job], running: Counter[str]) -> list[Job]:
    """Attempts a restart cut short first; then queued jobs by how many their pipeline would have
    running, so the pipeline with fewer goes first (its oldest first), whatever the ages."""
    resumed = [job for job in candidates if job.state not in (jobs.QUEUED, jobs.WAITING)]
    queued = [job for job in candidates if job.state in (jobs.QUEUED, jobs.WAITING)]
    ahead: Counter[str] = Counter()
    ranked = []
    for job in queued:  # oldest first within each pipeline
        ahead[job.pipeline] += 1
        ranked.append((running[job.pipeline] + ahead[job.pipeline], job.created_at, job))
    return resumed + [job for _, _, job in sorted(ranked, key=lambda item: item[:2])]


class Orchestrator:
    def __init__(self, *, ledger: Ledger, delivery: Delivery, auth: AuthWatch, settings: WatchConfig,
                 pipelines: Pipelines, tracer: Tracer, on_delivered: Callable[[], None], metrics: AttemptMetrics,
                 server_error_wait_s: float = 0.0) -> None:
        self.ledger = ledger
        self.on_delivered = on_delivered  # a job is DONE: what follows delivery is due
        self.metrics = metrics
        self.server_error_wait_s = server_error_wait_s  # Frame.io asks for at least this after a 5xx
        self.delivery = delivery
        self.auth = auth
        self.settings = settings
        self.pipelines = pipelines  # no attempt starts in a pipeline whose root is unavailable, or removed
        self.tracer = tracer
        self.running: dict[str, asyncio.Task] = {}  # job id → its attempt
        self.running_pipelines: dict[str, str] = {}  # job id → its pipeline, of each attempt in `running`
        self._wake = asyncio.Event()
        self._reconnect_since: dict[str, float] = {}  # connection → when a call last said it needs a reconnect

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._start_due()
            except Exception:
                log.exception("could not read the job ledger; trying again")
            await self._sleep_until_needed()

    async def _start_due(self) -> None:
        free = self.settings.max_concurrent - len(self.running)
        if free <= 0:
            return
        running = Counter(self.running_pipelines.values())
        unavailable = self.pipelines.unavailable()
        room = {name: run.max_concurrent - running[name]
                for name, run in self.pipelines.runs.items() if name not in unavailable}
        candidates = await self.ledger.runnable(time.time(), free * 4, self.running, self._auth_usable(),
                                                [name for name, slots in room.items() if slots > 0])
        for job in fair_order(candidates, running):
            if free and room[job.pipeline] > 0:
                free, room[job.pipeline] = free - 1, room[job.pipeline] - 1
                self.running_pipelines[job.id] = job.pipeline
                self.running[job.id] = asyncio.create_task(self._attempt(job), name=f"attempt-{job.id}")

    def _auth_usable(self) -> list[str]:
        """The connections whose jobs waiting for a reconnect may try again: connected ones, and
        the others every RECONNECT_PROBE_S."""
        now = time.monotonic()
        return [name for name in self.delivery.connections.by_name
                if self.auth.is_connected(name) or now - self._reconnect_since.get(name, 0.0) >= RECONNECT_PROBE_S]

    async def _sleep_until_needed(self) -> None:
        """Until woken (a job queued or finished, Frame.io connected again), or until the
        earliest backoff ends if a slot is free for it."""
        timeout = RECONNECT_PROBE_S
        if len(self.running) < self.settings.max_concurrent:
            due = await self.ledger.next_due()
            if due is not None:
                timeout = min(timeout, max(MIN_SLEEP_S, due - time.time()))
        waits = [asyncio.create_task(self._wake.wait()), asyncio.create_task(self.auth.reconnected.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        self.auth.reconnected.clear()

    async def stop(self) -> None:
        """Stops every attempt running (each resumes from the ledger at the next start)."""
        for job_id in list(self.running):
            await self.stop_attempt(job_id)

    async def _attempt(self, job: Job) -> None:
        job_id_var.set(job.id)
        FAIR_SHARE.set(job.pipeline)  # its Frame.io calls wait for the pace taking turns with other pipelines
        parent = context_from(common_pb2.TraceContext(traceparent=job.traceparent, tracestate=job.tracestate))
        try:
            with self.tracer.start_as_current_span("postflow.upload.attempt", context=parent,
                                                   attributes={"postflow.job_id": job.id, "postflow.path": job.path}):
                outcome = await self.delivery.run(job)
                if outcome.error is None:
                    self.on_delivered()
                    if outcome.job.state == jobs.DONE:
                        self.metrics.delivered(outcome.job)
                change = await self._meaning(outcome)
                if change is not None:
                    await self.ledger.update(job.id, outcome.job.epoch, change)
        finally:
            self._finished(job.id)
            self.wake()

    def _finished(self, job_id: str) -> asyncio.Task | None:
        """Forgets the job's attempt; the task, if it was still running."""
        self.running_pipelines.pop(job_id, None)
        return self.running.pop(job_id, None)

    async def _meaning(self, outcome: Outcome) -> Change | None:
        """The transition an attempt's outcome calls for (None: nothing to record)."""
        job, error = outcome.job, outcome.error
        if error is None or isinstance(error, Superseded):
            return None
        if problem := await self.pipelines.problem(job.pipeline):
            self.metrics.failed(job, "root_unavailable")
            log.warning("pipeline %s: root unavailable (%s); trying again once it is back: %s", job.pipeline,
                        problem, error)
            return jobs.wait_for_root(job, str(error), self._backoff(1), time.time(),
                                      give_back_attempt=outcome.took_attempt)
        if isinstance(error, ReconnectNeeded):
            self.metrics.failed(job, "reconnect_needed")
            self.auth.lost(job.connection)
            self._reconnect_since[job.connection] = time.monotonic()
            log.warning("waiting: %s", error)
            return jobs.wait_reconnect(job, str(error), give_back_attempt=outcome.took_attempt)
        if isinstance(error, FileChangedOnDisk):
            self.metrics.failed(job, "file_changed")
            return await self._file_changed(job, str(error))
        if isinstance(error, RateLimited):
            self.metrics.failed(job, "rate_limited")
            delay = self._backoff(2)
            log.info("Frame.io is rate limiting; trying again in %.1fs: %s", delay, error)
            return jobs.wait_out_rate_limit(job, str(error), delay, time.time(), give_back_attempt=outcome.took_attempt)
        if isinstance(error, (JobFailed, RequestFailed)):
            self.metrics.failed(job, "refused")
            log.warning("failed: %s", error)
            return jobs.fail(job, str(error))
        if isinstance(error, (RetryLater, TransientError)):
            self.metrics.failed(job, "transient")
            reason = str(error)
        else:
            self.metrics.failed(job, "internal")
            log.error("unexpected error in job %s", job.id, exc_info=error)
            reason = f"internal error: {type(error).__name__}: {error}"
        delay = self._backoff(job.attempts)
        if isinstance(error, TransientError) and (error.status or 0) >= 500:
            delay = max(delay, self.server_error_wait_s * random.uniform(1.0, 2.0))
        change = jobs.retry_later(job, reason, delay, time.time())
        if change.fields["state"] == FAILED:
            log.warning("failed after %d attempts: %s", job.attempts, reason)
        else:
            log.warning("attempt %d failed, retrying in %.1fs: %s", job.attempts, delay, reason)
        return change

    def _backoff(self, attempts: int) -> float:
        return backoff_delay(attempts, self.settings.backoff_base_s, self.settings.backoff_max_s)

    async def _file_changed(self, job: Job, reason: str) -> Change | None:
        """The scanner restarts the job once the new content is stable, unless the new
        content already has a job of its own, or the scanner does not follow this file."""
        run = self.pipelines.get(job.pipeline)
        try:
            st = await asyncio.to_thread(os.stat, run.root / job.path)
        except OSError:
            return jobs.fail(job, "the file is no longer in the watch folder")
        newer = await self.ledger.find(job.pipeline, job.path, st.st_size, st.st_mtime_ns)
        if newer is not None and newer.id != job.id:
            return jobs.cancel(job, f"{reason}; its new content is job {newer.id}")
        if not run.routes.path_filter.accepts(job.path):
            return jobs.fail(job, f"{reason}; submit it again once it is complete")
        log.info("%s; waiting for it to settle", reason)
        return jobs.wait_unstable(job)

    # -- changes from outside a running attempt ------------------------------------------------

    async def stop_attempt(self, job_id: str) -> None:
        task = self._finished(job_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def on_changes(self, pipeline: str, changes: list[FileChange]) -> None:
        """Files the scanner of `pipeline` saw change or vanish: a job on older content stops at once."""
        relevant = [c for c in changes if c.kind in (MODIFIED, REMOVED)]
        active = await self.ledger.active_paths(pipeline) if relevant else {}
        for change in relevant:
            job_id = active.get(change.file.path)
            job = await self.ledger.get(job_id) if job_id else None
            if job is None:
                continue
            if change.kind == REMOVED:
                with contextlib.suppress(Conflict):  # it finished meanwhile
                    await self.cancel(job.id, lambda current: jobs.cancel(current, FILE_REMOVED))
            elif (job.size, job.mtime_ns) != (change.file.size, change.file.mtime_ns):
                await self.stop_attempt(job.id)
                await self.ledger.change(job.id, jobs.wait_unstable)

    async def cancel(self, job_id: str, cancelling: Callable[[Job], Change | None]) -> Job:
        """Cancels the job by `cancelling` (`jobs.cancel` or `jobs.cancel_requested`), its attempt stopped."""
        job = await self.ledger.change(job_id, cancelling)
        await self.stop_attempt(job_id)
        if job.state == CANCELLED and (job.file_id or job.ticket_id):
            asyncio.create_task(self._clean_up(job), name=f"cleanup-{job_id}")
        return job

    async def _clean_up(self, job: Job) -> None:
        job_id_var.set(job.id)
        await self.delivery.clean_up(job)
