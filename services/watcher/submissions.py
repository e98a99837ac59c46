"""SubmitFile: queue a file inside a pipeline's root now, without waiting for the scanner."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
from pathlib import Path

from postflow.core.errors import InvalidArgument, NotFound
from postflow.v1 import watcher_pb2
from services.watcher.intake import JobIntake, Origin
from services.watcher.jobs import CANCELLED, FAILED, Job, requested, retry
from services.watcher.pipelines import PipelineRun, Pipelines
from services.watcher.routing import NotRouted
from services.watcher.scanner import FileStat


class Submissions:
    def __init__(self, pipelines: Pipelines, intake: JobIntake) -> None:
        self.pipelines = pipelines
        self.intake = intake

    async def locate(self, path: str) -> tuple[PipelineRun, str]:
        """The pipeline whose root holds `path` (absolute, or relative to the root when there
        is one pipeline) and the path relative to that root (symlinks resolved on a thread:
        a root that does not answer must not hold up the event loop)."""
        runs = list(self.pipelines.runs.values())
        if not path.strip():
            raise InvalidArgument("path: required (absolute, or relative to the watch root)")
        candidate = Path(path)
        if not candidate.is_absolute():
            if len(runs) != 1:
                raise InvalidArgument(f"path: {path} is relative, but there are {len(runs)} pipelines; "
                                      "give the absolute path")
            candidate = runs[0].root / candidate
        resolved = Path(await asyncio.to_thread(os.path.realpath, candidate))
        for run in runs:
            if resolved.is_relative_to(run.root) and resolved != run.root:
                return run, resolved.relative_to(run.root).as_posix()
        roots = ", ".join(str(run.root) for run in runs)
        raise InvalidArgument(f"path: {path} is not inside the watch root ({roots})")

    async def submit(self, request: watcher_pb2.SubmitFileRequest, person: str) -> Job:
        """`person`: who asks (the person the dashboard acts for), "" when not known."""
        run, relpath = await self.locate(request.path)
        try:
            st = await asyncio.to_thread(os.stat, run.root / relpath)
        except FileNotFoundError:
            raise NotFound(f"path: {relpath} does not exist in the watch root") from None
        if not stat.S_ISREG(st.st_mode):
            raise InvalidArgument(f"path: {relpath} is not a regular file")
        if st.st_size == 0:
            raise InvalidArgument(f"path: {relpath} is empty")
        ledger = self.intake.ledger
        existing = await ledger.find(run.name, relpath, st.st_size, st.st_mtime_ns)
        if existing is None:
            file = FileStat(relpath, st.st_size, st.st_mtime_ns, st.st_ino)
            try:
                new = self.intake.new(file, run.routes, destination=request.destination or None,
                                      version_policy=request.version_policy, mode=request.mode, check_filter=False)
            except NotRouted as exc:
                raise InvalidArgument(f"path: {exc}") from None
            fields, _ = requested("submitted", person)
            new = dataclasses.replace(new, row=new.row.replace(**fields))
            registered = await self.intake.register([new], Origin.SUBMITTED)
            existing = registered[0] if registered else await ledger.find(run.name, relpath, st.st_size,
                                                                          st.st_mtime_ns)
            assert existing is not None  # registered now, or by the scanner a moment before
        elif existing.state in (FAILED, CANCELLED):
            existing = await ledger.change(existing.id, lambda job: retry(job, person, "submitted"))
            self.intake.orchestrator.wake()
        return existing
