"""The job API's pipeline calls: ListPipelines, ListUnrouted, Rescan and ReloadConfig."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

import grpc

from postflow.core.errors import InvalidArgument, NotFound
from postflow.core.protos import timestamp
from postflow.v1 import watcher_pb2
from services.watcher.intake import JobIntake
from services.watcher.pipelines import Changes, PipelineRun, Pipelines
from services.watcher.sightings import Sightings

Context: TypeAlias = grpc.aio.ServicerContext
DEFAULT_PAGE, MAX_PAGE = 50, 500


class PipelineCalls:
    def __init__(self, pipelines: Pipelines, intake: JobIntake, sightings: Sightings,
                 reload: Callable[[], Awaitable[Changes]]) -> None:
        self.pipelines = pipelines
        self.intake = intake
        self.sightings = sightings
        self.reload = reload

    def _run(self, name: str) -> PipelineRun:
        if not name:
            raise InvalidArgument("pipeline: required")
        run = self.pipelines.runs.get(name)
        if run is None:
            raise NotFound(f"pipeline {name!r}: no such pipeline (known: {', '.join(self.pipelines.runs) or 'none'})")
        return run

    async def ListPipelines(self, request: watcher_pb2.ListPipelinesRequest,
                            context: Context) -> watcher_pb2.ListPipelinesResponse:
        by_state = await self.intake.ledger.states_by_pipeline()
        sightings = await self.sightings.counts()
        answer = watcher_pb2.ListPipelinesResponse()
        for name, run in self.pipelines.runs.items():
            pipeline, problem = run.routes.config, run.detector.root_problem
            unrouted, seen = sightings.get(name, (0, 0))
            answer.pipelines.append(watcher_pb2.PipelineStatus(
                name=name, root=str(run.root), connection=pipeline.connection, project=pipeline.project,
                jobs_by_state=by_state.get(name, {}), unrouted=unrouted, waiting_on_start=seen,
                root_available=not problem, root_problem=problem, on_start=pipeline.on_start,
                after_delivery=pipeline.after_delivery))
        return answer

    async def ListUnrouted(self, request: watcher_pb2.ListUnroutedRequest,
                           context: Context) -> watcher_pb2.ListUnroutedResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size: must not be negative")
        pipelines = [name for name in [request.pipeline, *request.pipelines] if name]
        for name in pipelines:
            self._run(name)
        page = await self.sightings.unrouted(pipelines, min(request.page_size or DEFAULT_PAGE, MAX_PAGE),
                                             request.page_token)
        return watcher_pb2.ListUnroutedResponse(
            files=[watcher_pb2.UnroutedFile(pipeline=file.pipeline, path=file.path, size=file.size,
                                            reason=file.reason, seen_at=timestamp(file.at)) for file in page.files],
            next_page_token=page.next_token, total=page.total)

    async def Rescan(self, request: watcher_pb2.RescanRequest, context: Context) -> watcher_pb2.RescanResponse:
        run = self._run(request.pipeline)
        queued = await self.intake.upload_existing(run.routes) if request.upload_existing else 0
        self.pipelines.rescan(run.name)
        return watcher_pb2.RescanResponse(queued=queued)

    async def ReloadConfig(self, request: watcher_pb2.ReloadConfigRequest,
                           context: Context) -> watcher_pb2.ReloadConfigResponse:
        changes = await self.reload()
        return watcher_pb2.ReloadConfigResponse(added=changes.added, removed=changes.removed, changed=changes.changed)
