"""Runs jobs: at most `max_concurrent` attempts at once, attempts interrupted by a restart
first, then the oldest queued job. Decides what an attempt's outcome means: done, back off
and retry, wait for Frame.io to be reconnected, wait for the file to settle, or fail."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

from opentelemetry.trace import Tracer

from postflow.core.logs import job_id_var
from postflow.core.telemetry import context_from
from postflow.frameio import RateLimited, ReconnectNeeded, RequestFailed, TransientError, backoff_delay
from postflow.v1 import common_pb2
from services.watcher.followers import AuthWatch
from services.watcher.jobs import ACTIVE, BACKOFF, CANCELLED, FAILED, RECONNECT, UNSTABLE, WAITING, Job
from services.watcher.ledger import Conflict
from services.watcher.pipeline import COMPLETE, Attempt, Deps, JobFailed, RetryLater, SourceChanged, Superseded
from services.watcher.scanner import MODIFIED, REMOVED, Change, PathFilter

log = logging.getLogger(__name__)

RECONNECT_PROBE_S = 60.0  # try a job again this often even if auth has not said "connected"
MIN_SLEEP_S = 0.05
UNSTABLE_REASON = "the file is changing on disk; waiting for it to settle"


class Orchestrator:
    def __init__(self, deps: Deps, auth: AuthWatch, tracer: Tracer, path_filter: PathFilter) -> None:
        self.deps = deps
        self.auth = auth
        self.tracer = tracer
        self.path_filter = path_filter
        self.max_concurrent = deps.config.watch.max_concurrent
        self.running: dict[str, asyncio.Task] = {}
        self._wake = asyncio.Event()
        self._reconnect_since = 0.0

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
        free = self.max_concurrent - len(self.running)
        if free > 0:
            for job in await self.deps.ledger.runnable(time.time(), free, self.running, self._auth_usable()):
                self.running[job.id] = asyncio.create_task(self._attempt(job), name=f"job-{job.id}")

    def _auth_usable(self) -> bool:
        return self.auth.connected or time.monotonic() - self._reconnect_since >= RECONNECT_PROBE_S

    async def _sleep_until_needed(self) -> None:
        """Until woken (a job queued or finished), or until the earliest backoff ends if a
        slot is free for it."""
        timeout = RECONNECT_PROBE_S
        if len(self.running) < self.max_concurrent:
            due = await self.deps.ledger.next_due()
            if due is not None:
                timeout = min(timeout, max(MIN_SLEEP_S, due - time.time()))
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    async def _attempt(self, job: Job) -> None:
        job_id_var.set(job.id)
        parent = context_from(common_pb2.TraceContext(traceparent=job.traceparent, tracestate=job.tracestate))
        try:
            with self.tracer.start_as_current_span("postflow.upload.attempt", context=parent,
                                                   attributes={"postflow.job_id": job.id, "postflow.path": job.path}):
                await self._outcome(Attempt(self.deps, job))
        finally:
            self.running.pop(job.id, None)
            self.wake()

    async def _outcome(self, attempt: Attempt) -> None:
        try:
            await attempt.run()
        except Superseded:
            pass
        except ReconnectNeeded as exc:
            self.auth.lost()
            self._reconnect_since = time.monotonic()
            log.warning("waiting: %s", exc)
            await self._save(attempt, state=WAITING, waiting_kind=RECONNECT, waiting_reason="Frame.io reconnect needed",
                             attempts=attempt.job.attempts - attempt.counted, error=str(exc))
        except SourceChanged as exc:
            await self._source_changed(attempt, str(exc))
        except RateLimited as exc:
            await self._wait_out_rate_limit(attempt, str(exc))
        except (RetryLater, TransientError) as exc:
            await self._retry_or_fail(attempt, str(exc))
        except (JobFailed, RequestFailed) as exc:
            log.warning("failed: %s", exc)
            await self._save(attempt, state=FAILED, error=str(exc))
        except Exception as exc:
            log.exception("unexpected error in job %s", attempt.job.id)
            await self._retry_or_fail(attempt, f"internal error: {type(exc).__name__}: {exc}")

    async def _save(self, attempt: Attempt, **changes: Any) -> None:
        try:
            await attempt.save(changes.pop("message", ""), **changes)
        except Superseded:
            pass

    async def _retry_or_fail(self, attempt: Attempt, reason: str) -> None:
        job = attempt.job
        config = self.deps.config.watch
        if job.attempts >= job.max_attempts:
            log.warning("failed after %d attempts: %s", job.attempts, reason)
            await self._save(attempt, state=FAILED, error=f"{reason} (gave up after {job.attempts} attempts)")
            return
        delay = backoff_delay(job.attempts, config.backoff_base_s, config.backoff_max_s)
        log.warning("attempt %d failed, retrying in %.1fs: %s", job.attempts, delay, reason)
        await self._save(attempt, state=WAITING, waiting_kind=BACKOFF, waiting_reason=f"retrying in {delay:.0f}s",
                         next_attempt_at=time.time() + delay, error=reason)

    async def _wait_out_rate_limit(self, attempt: Attempt, reason: str) -> None:
        """A long 429 storm is waited out: the attempt is given back, whatever the count."""
        config = self.deps.config.watch
        delay = backoff_delay(2, config.backoff_base_s, config.backoff_max_s)
        log.info("Frame.io is rate limiting; trying again in %.1fs: %s", delay, reason)
        await self._save(attempt, state=WAITING, waiting_kind=BACKOFF,
                         waiting_reason=f"Frame.io rate limit; retrying in {delay:.0f}s",
                         attempts=attempt.job.attempts - attempt.counted, next_attempt_at=time.time() + delay,
                         error=reason)

    async def _source_changed(self, attempt: Attempt, reason: str) -> None:
        """The scanner restarts the job once the new content is stable, unless the new
        content already has a job of its own, or the scanner does not follow this file."""
        job = attempt.job
        try:
            st = await asyncio.to_thread(os.stat, self.deps.root / job.path)
        except OSError:
            await self._save(attempt, state=FAILED, error="the file is no longer in the watch folder")
            return
        newer = await self.deps.ledger.find(job.path, st.st_size, st.st_mtime_ns)
        if newer is not None and newer.id != job.id:
            await self._save(attempt, state=CANCELLED, error=f"{reason}; its new content is job {newer.id}")
            return
        if not self.path_filter.accepts(job.path):
            await self._save(attempt, state=FAILED, error=f"{reason}; submit it again once it is complete")
            return
        log.info("%s; waiting for it to settle", reason)
        await self._save(attempt, state=WAITING, waiting_kind=UNSTABLE, waiting_reason=UNSTABLE_REASON, error="")

    # -- changes from outside a running attempt ------------------------------------------------

    async def stop_attempt(self, job_id: str) -> None:
        task = self.running.pop(job_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def on_changes(self, changes: list[Change]) -> None:
        """Files the scanner saw change or vanish: a job on older content stops at once."""
        relevant = [c for c in changes if c.kind in (MODIFIED, REMOVED)]
        active = await self.deps.ledger.active_paths() if relevant else {}
        for change in relevant:
            job_id = active.get(change.file.path)
            job = await self.deps.ledger.get(job_id) if job_id else None
            if job is None:
                continue
            if change.kind == REMOVED:
                with contextlib.suppress(Conflict):  # it finished meanwhile
                    await self.cancel(job.id, "the file was removed from the watch folder")
            elif (job.size, job.mtime_ns) != (change.file.size, change.file.mtime_ns):
                await self.stop_attempt(job.id)
                await self.deps.ledger.change(job.id, _unsettled, "the file changed on disk")

    async def cancel(self, job_id: str, reason: str) -> Job:
        def decide(job: Job) -> dict | None:
            if job.state == CANCELLED:
                return None
            if job.state not in ACTIVE:
                raise Conflict(f"job {job_id} has already finished")
            return {"state": CANCELLED, "error": reason, "waiting_reason": "", "waiting_kind": ""}

        job = await self.deps.ledger.change(job_id, decide, reason)
        await self.stop_attempt(job_id)
        if job.state == CANCELLED and (job.file_id or job.ticket_id):
            asyncio.create_task(self._clean_up(job), name=f"cleanup-{job_id}")
        return job

    async def _clean_up(self, job: Job) -> None:
        """Best effort for a cancelled job: revoke its URL, delete its incomplete file."""
        job_id_var.set(job.id)
        attempt = Attempt(self.deps, job)
        try:
            await attempt.revoke()
            if job.file_id:
                account_id = (await self.deps.frameio.project()).account_id
                if await attempt.file_state(account_id, job.file_id) != COMPLETE:
                    await attempt.delete(account_id, job.file_id)
        except Exception as exc:  # noqa: BLE001 - nothing depends on it; say so and move on
            log.warning("could not clean up after the cancelled job: %s", exc)


def _unsettled(job: Job) -> dict | None:
    if job.state not in ACTIVE or (job.state == WAITING and job.waiting_kind == UNSTABLE):
        return None
    return {"state": WAITING, "waiting_kind": UNSTABLE, "waiting_reason": UNSTABLE_REASON}
