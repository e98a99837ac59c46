"""WatcherService handlers: the job API the dashboard, the CLI and other pipeline tools use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeAlias

import grpc

from postflow.core.errors import InvalidArgument, NotFound
from postflow.core.mesh.api_keys import ApiKey, ApiKeys
from postflow.core.mesh.guard import actor
from postflow.core.protos import timestamp
from postflow.v1 import common_pb2, watcher_pb2, watcher_pb2_grpc
from services.watcher.feed import Head
from services.watcher.history import History
from services.watcher.history_rpcs import HistoryCalls
from services.watcher.intake import JobIntake
from services.watcher.job_proto import to_proto
from services.watcher.jobs import PROGRESS, Job, cancel_requested, retry
from services.watcher.ledger import Ledger
from services.watcher.orchestrator import Orchestrator
from services.watcher.outbound.dispatcher import Outbound
from services.watcher.outbound.rpcs import OutboundCalls
from services.watcher.pipeline_rpcs import PipelineCalls
from services.watcher.pipelines import Changes, Pipelines
from services.watcher.review.hook_rpcs import HookCalls
from services.watcher.review.hooks import FrameioWebhooks
from services.watcher.review.reviews import Reviews
from services.watcher.review.rpcs import ReviewCalls
from services.watcher.schema import JobQuery
from services.watcher.sightings import Sightings
from services.watcher.submissions import Submissions

DEFAULT_PAGE = 50
MAX_PAGE = 500
SNAPSHOT = watcher_pb2.JOB_EVENT_KIND_SNAPSHOT
SNAPSHOT_END = watcher_pb2.JOB_EVENT_KIND_SNAPSHOT_END

Context: TypeAlias = grpc.aio.ServicerContext


class WatcherServicer(PipelineCalls, HistoryCalls, OutboundCalls, HookCalls, ReviewCalls,
                      watcher_pb2_grpc.WatcherServiceServicer):
    def __init__(self, ledger: Ledger, orchestrator: Orchestrator, submissions: Submissions, pipelines: Pipelines,
                 api_keys: ApiKeys, intake: JobIntake, sightings: Sightings,
                 reload: Callable[[], Awaitable[Changes]], outbound: Outbound,
                 frameio_webhooks: FrameioWebhooks, reviews: Reviews | None) -> None:
        super().__init__(pipelines, intake, sightings, reload)
        self.outbound = outbound
        self.frameio_webhooks = frameio_webhooks
        self.reviews = reviews
        self.ledger = ledger
        self.orchestrator = orchestrator
        self.submissions = submissions
        self.pipelines = pipelines
        self.api_keys = api_keys
        self.history = History(ledger)

    async def _job(self, job_id: str) -> Job:
        if not job_id:
            raise InvalidArgument("id: required")
        job = await self.ledger.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    async def SubmitFile(self, request: watcher_pb2.SubmitFileRequest, context: Context) -> common_pb2.Job:
        return to_proto(await self.submissions.submit(request, actor()))

    async def GetJob(self, request: watcher_pb2.GetJobRequest, context: Context) -> common_pb2.Job:
        return to_proto(await self._job(request.id))

    async def ListJobs(self, request: watcher_pb2.ListJobsRequest, context: Context) -> watcher_pb2.ListJobsResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size: must not be negative")
        page_size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        query = JobQuery(states=list(request.states), path_prefix=request.path_prefix,
                         pipelines=list(request.pipelines), search=request.search)
        page = await self.ledger.page(query, page_size, request.page_token)
        return watcher_pb2.ListJobsResponse(jobs=[to_proto(j) for j in page.jobs], next_page_token=page.next_token,
                                            total=page.total)

    async def WatchJobs(self, request: watcher_pb2.WatchJobsRequest,
                        context: Context) -> AsyncIterator[watcher_pb2.JobEvent]:
        """Changes are stored and numbered: a resume replays those after `after_seq`. PROGRESS
        events are live only and carry the number of the last change before them, so one
        with the cursor's number is news and one with an older number is stale."""
        cursor = request.after_seq
        while True:
            with self.ledger.live_events.subscribe() as live_events:
                head = await self.ledger.head()
                if cursor <= 0 or cursor < head.first_seq - 1 or cursor > head.last_seq:
                    async for event in self._snapshot(head):
                        yield event
                    cursor = head.last_seq
                else:
                    async for event in self._replay(cursor):
                        yield event
                        cursor = event.seq
                async for live in live_events:
                    if live.seq > cursor or (live.kind == PROGRESS and live.seq == cursor):
                        yield live
                        cursor = live.seq
            if not live_events.dropped:
                return  # the service is stopping
            # We fell behind and were dropped: catch up from the ledger, then go live again.

    async def _snapshot(self, head: Head) -> AsyncIterator[watcher_pb2.JobEvent]:
        """Every job, newest first, read a page at a time, with the totals as of `head`."""
        token = ""
        while True:
            page = await self.ledger.page(JobQuery(), MAX_PAGE, token)
            for job in page.jobs:
                yield watcher_pb2.JobEvent(seq=head.last_seq, kind=SNAPSHOT, job=to_proto(job), totals=head.totals)
            token = page.next_token
            if not token:
                break
        yield watcher_pb2.JobEvent(seq=head.last_seq, kind=SNAPSHOT_END, totals=head.totals)

    async def _replay(self, cursor: int) -> AsyncIterator[watcher_pb2.JobEvent]:
        while events := await self.ledger.events_after(cursor):
            for event in events:
                yield event
            cursor = events[-1].seq

    async def RetryJob(self, request: watcher_pb2.RetryJobRequest, context: Context) -> common_pb2.Job:
        await self._job(request.id)
        person = actor()
        job = await self.ledger.change(request.id, lambda job: retry(job, person))
        self.orchestrator.wake()
        return to_proto(job)

    async def CancelJob(self, request: watcher_pb2.CancelJobRequest, context: Context) -> common_pb2.Job:
        await self._job(request.id)
        person = actor()
        return to_proto(await self.orchestrator.cancel(request.id, lambda job: cancel_requested(job, person)))

    async def GetStats(self, request: watcher_pb2.GetStatsRequest, context: Context) -> watcher_pb2.Stats:
        """Every pipeline's scanning at once: the roots (comma-separated), the slowest pass, and
        the first unavailable root, named by its pipeline when there are several."""
        head = await self.ledger.head()
        detectors = {name: run.detector for name, run in self.pipelines.runs.items()}
        problems = [(name, detector.root_problem) for name, detector in detectors.items() if detector.root_problem]
        problem = ""
        if problems:
            name, problem = problems[0]
            problem = f"pipeline {name}: {problem}" if len(detectors) > 1 else problem
        stats = watcher_pb2.Stats(
            jobs_by_state=head.totals.jobs_by_state, bytes_delivered=head.totals.bytes_delivered,
            files_delivered=head.totals.files_delivered,
            files_seen=sum(detector.scanner.file_count for detector in detectors.values()),
            last_scan_s=max((detector.last_scan_s for detector in detectors.values()), default=0.0),
            watch_root=", ".join(str(run.root) for run in self.pipelines.runs.values()), last_seq=head.last_seq,
            watch_root_available=not problem, watch_root_problem=problem)
        scanned = [detector.last_scan_at for detector in detectors.values() if detector.last_scan_at]
        if scanned:
            stats.last_scan_at.FromNanoseconds(int(min(scanned) * 1e9))
        return stats

    # -- API keys for other tools (admin only, by postflow.core.mesh.policy) -------------------

    async def CreateApiKey(self, request: watcher_pb2.CreateApiKeyRequest,
                           context: Context) -> watcher_pb2.CreateApiKeyResponse:
        key, record = await self.api_keys.create(request.name, request.scopes)
        return watcher_pb2.CreateApiKeyResponse(key=key, api_key=key_proto(record))

    async def ListApiKeys(self, request: watcher_pb2.ListApiKeysRequest,
                          context: Context) -> watcher_pb2.ListApiKeysResponse:
        return watcher_pb2.ListApiKeysResponse(api_keys=[key_proto(record) for record in await self.api_keys.list()])

    async def RevokeApiKey(self, request: watcher_pb2.RevokeApiKeyRequest, context: Context) -> watcher_pb2.ApiKey:
        return key_proto(await self.api_keys.revoke(request.name))


def key_proto(record: ApiKey) -> watcher_pb2.ApiKey:
    """A key's record as the API shows it: never the key or its hash."""
    return watcher_pb2.ApiKey(
        name=record.name, scopes=sorted(record.scopes), created_at=timestamp(record.created_at),
        last_used_at=None if record.last_used_at is None else timestamp(record.last_used_at),
        revoked_at=None if record.revoked_at is None else timestamp(record.revoked_at))
