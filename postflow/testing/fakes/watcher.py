"""A fake WatcherService whose jobs, pipelines and unrouted files the test sets. Like the ledger
it numbers every job event, keeps the newest `retain` of them, resumes a WatchJobs stream after a
known sequence number (a snapshot otherwise), ends a stream that falls behind, and sends the
totals of every job with each event; it lists jobs newest first, filtered by state, pipeline,
path prefix and a case-insensitive search of the path, a page at a time (the token is a
position, so pages hold still while new jobs arrive). Counting is incremental, so a test can
make thousands of jobs cheaply. GetHistory answers what the test set, and keeps the requests.
GetReview answers the review the test set for the job (by id, or the newest of a path).
RetryJob and CancelJob record the person of `x-postflow-actor` in the job's `acted_by`.
ReceiveFrameioWebhook keeps each delivery and answers the outcome the test set, after its
delay; SetupFrameioWebhooks keeps each request and answers the registrations the test set
("would …" outcomes in a dry run)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import grpc

from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound
from postflow.core.mesh.guard import ACTOR_METADATA
from postflow.core.protos import label, timestamp
from postflow.core.pubsub import Overflow, Topic
from postflow.testing.fakes.messages import assign, follow
from postflow.v1 import common_pb2, watcher_pb2, watcher_pb2_grpc

FINAL = (common_pb2.JOB_STATE_DONE, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
DEFAULT_PIPELINE = "default"
T = TypeVar("T")


class FakeWatcher(watcher_pb2_grpc.WatcherServiceServicer):
    def __init__(self, retain: int = 10_000) -> None:
        self.jobs: dict[str, common_pb2.Job] = {}
        self.events: list[watcher_pb2.JobEvent] = []
        self.seq = 0
        self.retain = retain
        self.watch_requests: list[int] = []  # after_seq of every WatchJobs call
        self.watch_root_problem = ""  # set by a test: the watch root is unavailable, and why
        self.live: Topic[watcher_pb2.JobEvent] = Topic(retain, Overflow.DROP_SUBSCRIBER, name="fake WatchJobs")
        # What ListPipelines answers besides each one's job counts (those come from the jobs).
        self.pipelines: dict[str, watcher_pb2.PipelineStatus] = {}
        self.set_pipeline(DEFAULT_PIPELINE, root="/media/OUT")
        self.unrouted: list[watcher_pb2.UnroutedFile] = []
        self.history = watcher_pb2.GetHistoryResponse()  # what GetHistory answers, set by a test
        self.history_requests: list[watcher_pb2.GetHistoryRequest] = []
        self.deliveries: list[watcher_pb2.Delivery] = []  # the delivery log, oldest first (set by a test)
        self.replayed: list[int] = []  # ids ReplayDelivery was called with
        self.reviews: list[watcher_pb2.Review] = []  # what GetReview answers, oldest first (set by a test)
        self.review_requests: list[watcher_pb2.GetReviewRequest] = []
        self.hook_deliveries: list[watcher_pb2.FrameioWebhookDelivery] = []
        self.hook_outcome: int = watcher_pb2.FrameioWebhookReceipt.ACCEPTED  # what ReceiveFrameioWebhook answers
        self.hook_delay_s = 0.0  # how long it takes to answer
        self.setup_requests: list[watcher_pb2.SetupFrameioWebhooksRequest] = []
        self.registrations: list[watcher_pb2.FrameioWebhookRegistration] = []  # what SetupFrameioWebhooks answers
        self._position: dict[str, int] = {}  # job id -> order of creation
        self._counts: Counter[tuple[str, int]] = Counter()  # (pipeline, state) -> jobs
        self._files_delivered = 0
        self._bytes_delivered = 0

    # -- driven by the test ------------------------------------------------------------------

    def add_job(self, path: str, size: int = 1_000_000, **fields: Any) -> common_pb2.Job:
        """A new queued job (in pipeline `default` with connection `default` unless `fields` say)."""
        fields = {"pipeline": DEFAULT_PIPELINE, "connection": DEFAULT_PIPELINE, **fields}
        job = common_pb2.Job(id=uuid.uuid4().hex[:12], path=path, size=size, state=common_pb2.JOB_STATE_QUEUED,
                             max_attempts=5, eta_s=-1, trace_id=uuid.uuid4().hex, created_at=timestamp(), **fields)
        self._position[job.id] = len(self._position)
        self._record(job, watcher_pb2.JOB_EVENT_KIND_CREATED, "queued")
        return job

    def update(self, job_id: str, kind: watcher_pb2.JobEventKind = watcher_pb2.JOB_EVENT_KIND_STATE,
               message: str = "", **fields: Any) -> common_pb2.Job:
        job = common_pb2.Job()
        job.CopyFrom(self.jobs[job_id])
        assign(job, **fields)
        self._record(job, kind, message)
        return job

    def progress(self, job_id: str, bytes_done: int, rate_bps: float = 50e6, connections: int = 0) -> common_pb2.Job:
        job = self.jobs[job_id]
        eta = (job.size - bytes_done) / rate_bps if rate_bps else -1
        return self.update(job_id, watcher_pb2.JOB_EVENT_KIND_PROGRESS, bytes_done=bytes_done, rate_bps=rate_bps,
                           eta_s=eta, connections=connections)

    def finish(self, job_id: str) -> common_pb2.Job:
        job = self.jobs[job_id]
        return self.update(job_id, state=common_pb2.JOB_STATE_DONE, bytes_done=job.size, rate_bps=0, eta_s=0,
                           connections=0, view_url=f"https://next.frame.io/project/p/view/{job_id}")

    def set_pipeline(self, name: str, **fields: Any) -> watcher_pb2.PipelineStatus:
        """Adds pipeline `name` (root available, connection `default`) or changes its fields."""
        status = self.pipelines.get(name) or watcher_pb2.PipelineStatus(
            name=name, root=f"/media/{name}", connection=DEFAULT_PIPELINE, root_available=True, on_start="all",
            after_delivery="none")
        assign(status, **fields)
        self.pipelines[name] = status
        return status

    def add_unrouted(self, pipeline: str, path: str, reason: str = "no rule matches", size: int = 1_000_000,
                     ) -> watcher_pb2.UnroutedFile:
        file = watcher_pb2.UnroutedFile(pipeline=pipeline, path=path, size=size, reason=reason, seen_at=timestamp())
        self.unrouted.append(file)
        return file

    def totals(self) -> watcher_pb2.JobTotals:
        """Every job counted, as the real watcher sends it with each event."""
        return watcher_pb2.JobTotals(jobs_by_state=self._by_state(),
                                     files_delivered=self._files_delivered, bytes_delivered=self._bytes_delivered)

    def _by_state(self, pipeline: str | None = None) -> dict[str, int]:
        """Job counts by state name, of one pipeline or (None) of all."""
        by_state: Counter[str] = Counter()
        for (of_pipeline, state), jobs in self._counts.items():
            if jobs and pipeline in (None, of_pipeline):
                by_state[label(common_pb2.JobState, state)] += jobs
        return dict(by_state)

    def _count(self, job: common_pb2.Job, sign: int) -> None:
        self._counts[(job.pipeline, job.state)] += sign
        if job.state == common_pb2.JOB_STATE_DONE:
            self._files_delivered += sign
            self._bytes_delivered += sign * job.size

    def _record(self, job: common_pb2.Job, kind: watcher_pb2.JobEventKind, message: str) -> None:
        job.updated_at.CopyFrom(timestamp())
        if job.id in self.jobs:
            self._count(self.jobs[job.id], -1)
        self._count(job, +1)
        self.jobs[job.id] = job
        self.seq += 1
        event = watcher_pb2.JobEvent(seq=self.seq, kind=kind, job=job, message=message, at=timestamp(),
                                     totals=self.totals())
        self.events.append(event)
        del self.events[:-self.retain]
        self.live.publish(event)

    # -- the service -------------------------------------------------------------------------

    def WatchJobs(self, request: watcher_pb2.WatchJobsRequest,
                  context: grpc.aio.ServicerContext) -> AsyncIterator[watcher_pb2.JobEvent]:
        self.watch_requests.append(request.after_seq)
        oldest = self.events[0].seq if self.events else self.seq + 1
        if request.after_seq == 0 or not oldest - 1 <= request.after_seq <= self.seq:
            totals = self.totals()
            first = [watcher_pb2.JobEvent(seq=self.seq, kind=watcher_pb2.JOB_EVENT_KIND_SNAPSHOT, job=job,
                                          totals=totals) for job in self.jobs.values()]
            first.append(watcher_pb2.JobEvent(seq=self.seq, kind=watcher_pb2.JOB_EVENT_KIND_SNAPSHOT_END,
                                              totals=totals))
        else:
            first = [event for event in self.events if event.seq > request.after_seq]
        return follow(self.live, first)

    async def ListJobs(self, request: watcher_pb2.ListJobsRequest,
                       context: grpc.aio.ServicerContext) -> watcher_pb2.ListJobsResponse:
        search = request.search.lower()
        jobs = [job for job in reversed(self.jobs.values())
                if (not request.states or job.state in request.states)
                and (not request.pipelines or job.pipeline in request.pipelines)
                and job.path.startswith(request.path_prefix) and search in job.path.lower()]
        page, token = one_page(jobs, request.page_size, request.page_token, lambda job: self._position[job.id])
        return watcher_pb2.ListJobsResponse(jobs=page, next_page_token=token, total=len(jobs))

    async def ListPipelines(self, request: watcher_pb2.ListPipelinesRequest,
                            context: grpc.aio.ServicerContext) -> watcher_pb2.ListPipelinesResponse:
        statuses = []
        for name, configured in self.pipelines.items():
            status = watcher_pb2.PipelineStatus()
            status.CopyFrom(configured)
            status.jobs_by_state.update(self._by_state(name))
            status.unrouted = sum(1 for file in self.unrouted if file.pipeline == name)
            statuses.append(status)
        return watcher_pb2.ListPipelinesResponse(pipelines=statuses)

    async def ListUnrouted(self, request: watcher_pb2.ListUnroutedRequest,
                           context: grpc.aio.ServicerContext) -> watcher_pb2.ListUnroutedResponse:
        wanted = {name for name in [request.pipeline, *request.pipelines] if name}
        for name in wanted - set(self.pipelines):
            raise NotFound(f"no pipeline {name!r}")
        files = [(index, file) for index, file in reversed(list(enumerate(self.unrouted)))
                 if not wanted or file.pipeline in wanted]
        page, token = one_page(files, request.page_size, request.page_token, lambda entry: entry[0])
        return watcher_pb2.ListUnroutedResponse(files=[file for _, file in page], next_page_token=token,
                                                total=len(files))

    def _job(self, job_id: str) -> common_pb2.Job:
        if job_id not in self.jobs:
            raise NotFound(f"no job {job_id}")
        return self.jobs[job_id]

    async def GetJob(self, request: watcher_pb2.GetJobRequest, context: grpc.aio.ServicerContext) -> common_pb2.Job:
        return self._job(request.id)

    async def RetryJob(self, request: watcher_pb2.RetryJobRequest, context: grpc.aio.ServicerContext) -> common_pb2.Job:
        job = self._job(request.id)
        if job.state not in (common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED):
            raise FailedPrecondition(f"job {job.id} is {common_pb2.JobState.Name(job.state)}, not failed")
        person = acting_for(context)
        return self.update(job.id, state=common_pb2.JOB_STATE_QUEUED, error="", attempts=0, acted="retried",
                           acted_by=person, message=f"retried by {person}" if person else "retried on request")

    async def CancelJob(self, request: watcher_pb2.CancelJobRequest,
                        context: grpc.aio.ServicerContext) -> common_pb2.Job:
        job = self._job(request.id)
        if job.state in FINAL:
            raise FailedPrecondition(f"job {job.id} already ended")
        person = acting_for(context)
        return self.update(job.id, state=common_pb2.JOB_STATE_CANCELLED, acted="cancelled", acted_by=person,
                           message=f"cancelled by {person}" if person else "cancelled on request")

    async def GetStats(self, request: watcher_pb2.GetStatsRequest,
                       context: grpc.aio.ServicerContext) -> watcher_pb2.Stats:
        totals = self.totals()
        return watcher_pb2.Stats(jobs_by_state=totals.jobs_by_state, files_delivered=totals.files_delivered,
                                 bytes_delivered=totals.bytes_delivered, files_seen=len(self.jobs),
                                 last_seq=self.seq, watch_root="/media/OUT",
                                 watch_root_available=not self.watch_root_problem,
                                 watch_root_problem=self.watch_root_problem)

    async def GetHistory(self, request: watcher_pb2.GetHistoryRequest,
                         context: grpc.aio.ServicerContext) -> watcher_pb2.GetHistoryResponse:
        self.history_requests.append(request)
        return self.history


    async def ListDeliveries(self, request: watcher_pb2.ListDeliveriesRequest,
                             context: grpc.aio.ServicerContext) -> watcher_pb2.ListDeliveriesResponse:
        newest = list(reversed(self.deliveries))[:request.limit or DEFAULT_PAGE_SIZE]
        return watcher_pb2.ListDeliveriesResponse(deliveries=newest)

    async def ReplayDelivery(self, request: watcher_pb2.ReplayDeliveryRequest,
                             context: grpc.aio.ServicerContext) -> watcher_pb2.Delivery:
        delivery = next((d for d in self.deliveries if d.id == request.id), None)
        if delivery is None:
            raise NotFound(f"no delivery {request.id}")
        self.replayed.append(request.id)
        delivery.status = "pending"
        delivery.ClearField("sent_at")
        return delivery

    async def GetReview(self, request: watcher_pb2.GetReviewRequest,
                        context: grpc.aio.ServicerContext) -> watcher_pb2.Review:
        self.review_requests.append(request)
        if request.job_id:
            found = [review for review in self.reviews if review.job.id == request.job_id]
            what = f"no job {request.job_id}"
        else:
            found = [review for review in self.reviews if review.job.path == request.path
                     and request.pipeline in ("", review.job.pipeline)]
            within = f" in pipeline {request.pipeline}" if request.pipeline else ""
            what = f"no delivered file {request.path}{within}"
        if not found:
            raise NotFound(what)
        return found[-1]
    async def ReceiveFrameioWebhook(self, request: watcher_pb2.FrameioWebhookDelivery,
                                    context: grpc.aio.ServicerContext) -> watcher_pb2.FrameioWebhookReceipt:
        self.hook_deliveries.append(request)
        await asyncio.sleep(self.hook_delay_s)
        return watcher_pb2.FrameioWebhookReceipt(outcome=self.hook_outcome)  # type: ignore[arg-type]

    async def SetupFrameioWebhooks(self, request: watcher_pb2.SetupFrameioWebhooksRequest,
                                   context: grpc.aio.ServicerContext) -> watcher_pb2.SetupFrameioWebhooksResponse:
        self.setup_requests.append(request)
        answered = []
        for registration in self.registrations:
            copy = watcher_pb2.FrameioWebhookRegistration()
            copy.CopyFrom(registration)
            if request.dry_run:
                copy.outcome = {"registered": "would register", "updated": "would update"}.get(copy.outcome,
                                                                                              copy.outcome)
            answered.append(copy)
        return watcher_pb2.SetupFrameioWebhooksResponse(registrations=answered)


def acting_for(context: grpc.aio.ServicerContext) -> str:
    """The person the caller acts for (`x-postflow-actor`): the fake believes every caller, as
    the real watcher believes the dashboard's certificate."""
    return dict(context.invocation_metadata() or ()).get(ACTOR_METADATA, "")


def one_page(items: Sequence[T], page_size: int, page_token: str, position: Callable[[T], int]) -> tuple[list[T], str]:
    """The page of `items` (newest first, as `position` numbers them) after `page_token`, and
    the token of the next page ("" after the last): the real watcher's rules for both."""
    if page_size < 0:
        raise InvalidArgument("page_size: must not be negative")
    before = page_token.removeprefix("before-")
    if page_token and (before == page_token or not before.isdigit()):
        raise InvalidArgument("page_token: not one this watcher gave")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    rest = [item for item in items if not page_token or position(item) < int(before)]
    more = len(rest) > size
    return rest[:size], f"before-{position(rest[size - 1])}" if more else ""
