"""One pipeline's scan loop: polls its tree (sooner when inotify says something moved), hands
changes to the orchestrator at once and files that became stable to the intake."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from postflow.core.config import WatchConfig
from services.watcher.inotify import ScanTrigger, TreeEvents
from services.watcher.intake import JobIntake
from services.watcher.orchestrator import Orchestrator
from services.watcher.routing import PipelineRoutes
from services.watcher.scanner import REMOVED, Scanner
from services.watcher.stability import settle_stable

log = logging.getLogger(__name__)

REGISTER_BATCH = 200
EVENT_SCAN_GAP_S = 0.25  # with inotify: the least time between scans (at most a third of it scanning)


class Detector:
    def __init__(self, settings: WatchConfig, scanner: Scanner, orchestrator: Orchestrator, intake: JobIntake,
                 routes: PipelineRoutes) -> None:
        self.settings = settings
        self.scanner = scanner
        self.orchestrator = orchestrator
        self.intake = intake
        self.routes = routes
        self.first_scan = asyncio.Event()
        self._started = False
        self.last_scan_at = 0.0
        self.last_scan_s = 0.0
        self.trigger = ScanTrigger()
        self._scanning = False
        # Always the same thread: its malloc arena is reused by every pass instead of each
        # pass growing a new one in whichever pool thread it lands on.
        self._scan_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan")

    async def run(self) -> None:
        events = await self._tree_events() if self.settings.inotify else None
        try:
            while True:
                try:
                    await self.poll()
                except Exception:
                    log.exception("scan pass failed; trying again at the next poll")
                if events is not None and next(self.scanner.pending_dirs(), None):
                    self.trigger.after(events.settle_s)  # files seen growing: look again when they may be stable
                await self.trigger.wait(self.settings.poll_interval_s)
                if events is not None:  # events may ask for scans faster than a big tree should be walked
                    await asyncio.sleep(max(EVENT_SCAN_GAP_S, 2 * self.last_scan_s))
        finally:
            if events is not None:
                events.close()
            self.trigger.close()
            self._scan_thread.shutdown(wait=False, cancel_futures=True)

    async def _tree_events(self) -> TreeEvents | None:
        """inotify on the tree (`watch.inotify`), or None (with a warning) where it fails."""
        events = TreeEvents(Path(self.scanner.root), self.trigger, self.settings.stable_after_s * 1.05 + 0.1)
        try:
            await asyncio.get_running_loop().run_in_executor(self._scan_thread, events.open)
        except OSError as exc:
            log.warning("inotify unavailable (%s); polling only", exc.strerror or exc)
            events.close()
            return None
        events.listen()
        return events

    @property
    def root_problem(self) -> str:
        """Why the watch root is unavailable ("" when it is not): a pass waiting on it for
        `watch.unresponsive_after_s` or more, or what the last pass found."""
        if self._scanning:
            waited = self.scanner.clock() - self.scanner.progress_at
            if waited >= self.settings.unresponsive_after_s:
                return f"not answering for {waited:.0f} s"
        return self.scanner.problem

    async def poll(self) -> None:
        """One pass. A pass that hangs on the file system is awaited here (the next one
        waits for it) while the loop goes on serving; `root_problem` reports it."""
        started = time.monotonic()
        was_problem = self.scanner.problem
        self._scanning = True
        try:
            changes = await asyncio.get_running_loop().run_in_executor(self._scan_thread, self.scanner.scan)
        finally:
            self._scanning = False
        self.last_scan_s = time.monotonic() - started
        self.last_scan_at = time.time()
        name = self.routes.config.name
        if self.scanner.problem != was_problem:
            if self.scanner.problem:
                log.warning("pipeline %s: root unavailable: %s; scanning and new attempts paused", name,
                            self.scanner.problem)
            else:
                log.info("pipeline %s: root available again; scanning resumed", name)
                self.orchestrator.wake()
        if self.scanner.problem:
            self.first_scan.set()
            return  # pending files are not stable while they cannot be seen
        if not self._started:  # the first pass that saw the root
            await self.intake.started(self.routes, self.scanner)
            self._started = True
        self.first_scan.set()
        await self.orchestrator.on_changes(name, changes)
        await self.intake.removed(name, [change.file.path for change in changes if change.kind == REMOVED])
        stable = settle_stable(self.scanner, time.monotonic(), self.settings.stable_after_s)
        while batch := list(itertools.islice(stable, REGISTER_BATCH)):
            await self.intake.stable(self.routes, batch)
