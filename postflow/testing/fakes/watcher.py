"""A fake WatcherService whose jobs the test adds and moves along. Like the ledger it numbers
every job event, keeps the newest `retain` of them, resumes a WatchJobs stream after a known
sequence number (a snapshot otherwise), ends a stream that falls behind, and sends the totals
of every job with each event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound
from postflow.core.protos import label, timestamp
from postflow.core.pubsub import Overflow, Topic
from postflow.testing.fakes.messages import assign, follow
from postflow.v1 import common_pb2, watcher_pb2, watcher_pb2_grpc

FINAL = (common_pb2.JOB_STATE_DONE, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED)
DEFAULT_PAGE_SIZE = 50


class FakeWatcher(watcher_pb2_grpc.WatcherServiceServicer):
    def __init__(self, retain: int = 10_000) -> None:
        self.jobs: dict[str, common_pb2.Job] = {}
        self.events: list[watcher_pb2.JobEvent] = []
        self.seq = 0
        self.retain = retain
        self.watch_requests: list[int] = []  # after_seq of every WatchJobs call
        self.watch_root_problem = ""  # set by a test: the watch root is unavailable, and why
        self.live: Topic[watcher_pb2.JobEvent] = Topic(retain, Overflow.DROP_SUBSCRIBER, name="fake WatchJobs")

    # -- driven by the test ------------------------------------------------------------------

    def add_job(self, path: str, size: int = 1_000_000, **fields: Any) -> common_pb2.Job:
        job = common_pb2.Job(id=uuid.uuid4().hex[:12], path=path, size=size, state=common_pb2.JOB_STATE_QUEUED,
                             max_attempts=5, eta_s=-1, trace_id=uuid.uuid4().hex, created_at=timestamp(), **fields)
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

    def totals(self) -> watcher_pb2.JobTotals:
        """Every job counted, as the real watcher sends it with each event."""
        counts: dict[str, int] = {}
        for job in self.jobs.values():
            name = label(common_pb2.JobState, job.state)
            counts[name] = counts.get(name, 0) + 1
        done = [job for job in self.jobs.values() if job.state == common_pb2.JOB_STATE_DONE]
        return watcher_pb2.JobTotals(jobs_by_state=counts, files_delivered=len(done),
                                     bytes_delivered=sum(job.size for job in done))

    def _record(self, job: common_pb2.Job, kind: watcher_pb2.JobEventKind, message: str) -> None:
        job.updated_at.CopyFrom(timestamp())
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
        jobs = [job for job in self.jobs.values()
                if (not request.states or job.state in request.states) and job.path.startswith(request.path_prefix)]
        if request.page_token and not request.page_token.isdigit():
            raise InvalidArgument("page_token: not one of ours")
        start = int(request.page_token or 0)
        size = request.page_size or DEFAULT_PAGE_SIZE
        more = start + size < len(jobs)
        return watcher_pb2.ListJobsResponse(jobs=jobs[start:start + size],
                                            next_page_token=str(start + size) if more else "", total=len(jobs))

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
        return self.update(job.id, state=common_pb2.JOB_STATE_QUEUED, error="", attempts=0, message="retry")

    async def CancelJob(self, request: watcher_pb2.CancelJobRequest,
                        context: grpc.aio.ServicerContext) -> common_pb2.Job:
        job = self._job(request.id)
        if job.state in FINAL:
            raise FailedPrecondition(f"job {job.id} already ended")
        return self.update(job.id, state=common_pb2.JOB_STATE_CANCELLED, message="cancelled")

    async def GetStats(self, request: watcher_pb2.GetStatsRequest,
                       context: grpc.aio.ServicerContext) -> watcher_pb2.Stats:
        totals = self.totals()
        return watcher_pb2.Stats(jobs_by_state=totals.jobs_by_state, files_delivered=totals.files_delivered,
                                 bytes_delivered=totals.bytes_delivered, files_seen=len(self.jobs),
                                 last_seq=self.seq, watch_root="/media/OUT",
                                 watch_root_available=not self.watch_root_problem,
                                 watch_root_problem=self.watch_root_problem)
