"""The pipelines the watcher runs: for each, its routes (root, filter, rules) and its scan loop.
A reload (`apply`) starts the pipelines added, stops those removed and restarts those changed;
jobs in flight are not touched (a removed pipeline's queued jobs wait until it comes back)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from postflow.core.config import Config, WatchConfig
from postflow.core.errors import FailedPrecondition
from postflow.core.pipelines import pipelines_of, require_roots
from services.watcher.detector import Detector
from services.watcher.routing import PipelineRoutes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Changes:
    added: list[str]
    removed: list[str]
    changed: list[str]


@dataclass
class PipelineRun:
    routes: PipelineRoutes
    detector: Detector
    max_concurrent: int
    task: asyncio.Task | None = None

    @property
    def name(self) -> str:
        return self.routes.config.name

    @property
    def root(self) -> Path:
        return self.routes.root


def scan_settings(config: Config, routes: PipelineRoutes) -> WatchConfig:
    """The `watch` section with what the pipeline sets itself (its root is the pipeline's)."""
    pipeline = routes.config
    return dataclasses.replace(
        config.watch, root=str(routes.root),
        poll_interval_s=pipeline.poll_interval_s or config.watch.poll_interval_s,
        stable_after_s=pipeline.stable_after_s or config.watch.stable_after_s,
        include=config.watch.include if pipeline.include is None else pipeline.include,
        exclude=config.watch.exclude if pipeline.exclude is None else pipeline.exclude)


class Pipelines:
    def __init__(self, make_detector: Callable[[PipelineRoutes, WatchConfig], Detector]) -> None:
        self._make_detector = make_detector
        self.runs: dict[str, PipelineRun] = {}
        self._config: Config | None = None

    @staticmethod
    def routes_of(config: Config) -> dict[str, PipelineRoutes]:
        """Each pipeline's routes, its root checked (ConfigError naming the key)."""
        roots = require_roots(config)
        return {pipeline.name: dataclasses.replace(PipelineRoutes.build(pipeline, config), root=roots[pipeline.name])
                for pipeline in pipelines_of(config)}

    def apply_routes(self, config: Config, routes: dict[str, PipelineRoutes]) -> Changes:
        old = {name: run.routes for name, run in self.runs.items()}
        changed = [name for name in routes if name in old and self._changed(name, config, routes[name])]
        removed = [name for name in old if name not in routes]
        added = [name for name in routes if name not in old]
        for name in removed + changed:
            self._stop(self.runs.pop(name))
        self._config = config
        for name in changed + added:
            self._start(config, routes[name])
        return Changes(added, removed, changed)

    def rescan(self, name: str) -> None:
        """Scans the pipeline's root afresh: every file there is looked at again (routed now if
        the rules changed since; those with a job or seen at its first start stay as they are)."""
        run = self.runs[name]
        self._stop(run)
        assert self._config is not None
        self._start(self._config, run.routes)

    def _start(self, config: Config, routes: PipelineRoutes) -> None:
        name = routes.config.name
        detector = self._make_detector(routes, scan_settings(config, routes))
        run = self.runs[name] = PipelineRun(routes, detector,
                                            routes.config.max_concurrent or config.watch.max_concurrent)
        run.task = asyncio.get_running_loop().create_task(detector.run(), name=f"scan-{name}")
        log.info("pipeline %s: watching %s", name, run.root)

    def _changed(self, name: str, config: Config, routes: PipelineRoutes) -> bool:
        """Whether the running pipeline `name` scans or routes differently under `config`."""
        run = self.runs[name]
        return ((run.routes.config, run.routes.mode) != (routes.config, routes.mode)
                or run.routes.path_filter.skip_dirs != routes.path_filter.skip_dirs  # the `review` section's copy_to
                or run.detector.settings != scan_settings(config, routes))

    def _stop(self, run: PipelineRun) -> None:
        if run.task is not None:
            run.task.cancel()
        log.info("pipeline %s: stopped watching %s", run.name, run.root)

    async def stop(self) -> None:
        tasks = [run.task for run in self.runs.values() if run.task is not None]
        for run in self.runs.values():
            self._stop(run)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

    def get(self, name: str) -> PipelineRun:
        """The running pipeline `name`; FailedPrecondition when there is none (removed at a reload)."""
        run = self.runs.get(name)
        if run is None:
            raise FailedPrecondition(f"pipeline {name!r} is not in the config any more")
        return run

    def running(self, name: str) -> PipelineRoutes | None:
        """The routes of pipeline `name` if it runs and its root is available (None: not now)."""
        run = self.runs.get(name)
        return None if run is None or run.detector.root_problem else run.routes

    def unavailable(self) -> set[str]:
        """The pipelines whose root does not answer or fails: no attempt starts there."""
        return {name for name, run in self.runs.items() if run.detector.root_problem}

    async def problem(self, name: str) -> str:
        """Why the pipeline's root is unavailable now ("" when it is, or the pipeline is gone)."""
        run = self.runs.get(name)
        if run is None:
            return ""
        return run.detector.root_problem or await asyncio.to_thread(run.detector.scanner.health.problem)

    async def first_scans(self) -> None:
        await asyncio.gather(*(run.detector.first_scan.wait() for run in list(self.runs.values())))
