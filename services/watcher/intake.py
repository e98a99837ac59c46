"""How jobs come in: the scan loop (detect, wait for stability, queue) and SubmitFile.

Every new job starts a trace of its own: a root span `postflow.upload` whose context is
stored with the job, so every later attempt, even after a restart, joins the same trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import posixpath
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Tracer

from postflow.core.config import Config
from postflow.core.errors import InvalidArgument, NotFound
from postflow.core.logs import job_id_var
from postflow.core.telemetry import context_from, current_trace_context, trace_id_hex
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.inotify import ScanTrigger, TreeEvents
from services.watcher.jobs import CANCELLED, FAILED, QUEUED, Job, retry
from services.watcher.ledger import Ledger, new_job_id
from services.watcher.orchestrator import Orchestrator
from services.watcher.scanner import FileStat, Scanner
from services.watcher.stability import settle_stable

log = logging.getLogger(__name__)

REGISTER_BATCH = 200
EVENT_SCAN_GAP_S = 0.25  # with inotify: the least time between scans (at most a third of it scanning)


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


class JobFactory:
    def __init__(self, config: Config, tracer: Tracer) -> None:
        self.config = config
        self.tracer = tracer

    def new(self, file: FileStat, *, destination: str | None = None, version_policy: int = 0,
            mode: int = 0) -> Job:
        job_id = new_job_id()
        if destination is None:
            destination = posixpath.dirname(file.path) if self.config.watch.mirror_folders else ""
        caller = trace.get_current_span().get_span_context()
        span = self.tracer.start_span(
            "postflow.upload", context=otel_context.Context(), links=[Link(caller)] if caller.is_valid else None,
            attributes={"postflow.job_id": job_id, "postflow.path": file.path, "postflow.size": file.size})
        with trace.use_span(span, end_on_exit=True):
            carrier = current_trace_context()
            trace_id = trace_id_hex(span)
        now = time.time()
        return Job(id=job_id, path=file.path, size=file.size, mtime_ns=file.mtime_ns, inode=file.inode,
                   state=QUEUED, max_attempts=self.config.watch.max_attempts, created_at=now, updated_at=now,
                   destination=destination.strip("/"), version_policy=version_policy, requested_mode=mode,
                   trace_id=trace_id, traceparent=carrier.traceparent, tracestate=carrier.tracestate)


class Detector:
    """Polls the tree; stable files become jobs, changes reach the orchestrator at once."""

    def __init__(self, config: Config, scanner: Scanner, ledger: Ledger, orchestrator: Orchestrator,
                 factory: JobFactory) -> None:
        self.config = config
        self.scanner = scanner
        self.ledger = ledger
        self.orchestrator = orchestrator
        self.factory = factory
        self.first_scan = asyncio.Event()
        self.last_scan_at = 0.0
        self.last_scan_s = 0.0
        self.trigger = ScanTrigger()
        # Always the same thread: its malloc arena is reused by every pass instead of each
        # pass growing a new one in whichever pool thread it lands on.
        self._scan_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan")

    async def run(self) -> None:
        watch = self.config.watch
        events = await self._tree_events() if watch.inotify else None
        try:
            while True:
                try:
                    await self.poll()
                except Exception:
                    log.exception("scan pass failed; trying again at the next poll")
                if events is not None and next(self.scanner.pending_dirs(), None):
                    self.trigger.after(events.settle_s)  # files seen growing: look again when they may be stable
                await self.trigger.wait(watch.poll_interval_s)
                if events is not None:  # events may ask for scans faster than a big tree should be walked
                    await asyncio.sleep(max(EVENT_SCAN_GAP_S, 2 * self.last_scan_s))
        finally:
            if events is not None:
                events.close()
            self.trigger.close()
            self._scan_thread.shutdown(wait=False, cancel_futures=True)

    async def _tree_events(self) -> TreeEvents | None:
        """inotify on the tree (`watch.inotify`), or None (with a warning) where it fails."""
        events = TreeEvents(Path(self.scanner.root), self.trigger, self.config.watch.stable_after_s * 1.05 + 0.1)
        try:
            await asyncio.get_running_loop().run_in_executor(self._scan_thread, events.open)
        except OSError as exc:
            log.warning("inotify unavailable (%s); polling only", exc.strerror or exc)
            events.close()
            return None
        events.listen()
        return events

    async def poll(self) -> None:
        started = time.monotonic()
        changes = await asyncio.get_running_loop().run_in_executor(self._scan_thread, self.scanner.scan)
        self.last_scan_s = time.monotonic() - started
        self.last_scan_at = time.time()
        self.first_scan.set()
        await self.orchestrator.on_changes(changes)
        stable = settle_stable(self.scanner, time.monotonic(), self.config.watch.stable_after_s)
        while batch := list(itertools.islice(stable, REGISTER_BATCH)):
            created, restarted = await self.ledger.register_stable(batch, self.factory.new)
            for job in created:
                with job_scope(job):
                    log.info("detected %s (%d bytes), stable; queued", job.path, job.size)
            for job in restarted:
                await self.orchestrator.stop_attempt(job.id)
                with job_scope(job):
                    log.info("%s changed on disk; starting again on the new content", job.path)
            if created or restarted:
                self.orchestrator.wake()


class Submissions:
    """SubmitFile: queue a file inside the watch root now, without waiting for the scanner."""

    def __init__(self, root: Path, ledger: Ledger, orchestrator: Orchestrator, factory: JobFactory) -> None:
        self.root = root
        self.ledger = ledger
        self.orchestrator = orchestrator
        self.factory = factory

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
        existing = await self.ledger.find(relpath, st.st_size, st.st_mtime_ns)
        if existing is not None:
            if existing.state in (FAILED, CANCELLED):
                existing = await self.ledger.change(existing.id, lambda job: retry(job, "submitted again"))
                self.orchestrator.wake()
            return existing
        file = FileStat(relpath, st.st_size, st.st_mtime_ns, st.st_ino)
        destination = request.destination if request.destination else None
        created, restarted = await self.ledger.register_stable([file], lambda f: self.factory.new(
            f, destination=destination, version_policy=request.version_policy, mode=request.mode))
        for job in restarted:
            await self.orchestrator.stop_attempt(job.id)
        job = (created or restarted)[0]
        with job_scope(job):
            log.info("submitted %s (%d bytes); queued", job.path, job.size)
        self.orchestrator.wake()
        return job
