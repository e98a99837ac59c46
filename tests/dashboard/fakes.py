"""Small in-test fakes of WatcherService, StreamerService and AuthService, served by real
grpc.aio servers (postflow.core.rpc.GrpcServer, so health and error mapping are the real ones)
and driven by the test: it adds jobs, moves them along, changes the tunnel and the auth state."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from postflow.core.config import Config, ServicesConfig
from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from postflow.core.pubsub import Overflow, Topic
from postflow.core.rpc import GrpcServer, Servicer
from postflow.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    streamer_pb2,
    streamer_pb2_grpc,
    watcher_pb2,
    watcher_pb2_grpc,
)

FINAL = (common_pb2.JOB_STATE_DONE, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED)
STOP_GRACE_S = 0.2
STATUS_BUFFER = 512  # the streamer's and auth's streams keep the newest statuses of a slow reader


def assign(target, /, **fields) -> None:
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(target, name).CopyFrom(value)
        else:
            setattr(target, name, value)


def now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


async def follow(topic: Topic, first: list) -> AsyncIterator:
    """A fake's server stream: `first`, then what the topic publishes until it drops us."""
    with topic.subscribe() as subscription:
        for message in first:
            yield message
        async for message in subscription:
            yield message


class FakeWatcher(watcher_pb2_grpc.WatcherServiceServicer):
    def __init__(self, retain: int = 10_000) -> None:
        self.jobs: dict[str, common_pb2.Job] = {}
        self.events: list[watcher_pb2.JobEvent] = []
        self.seq = 0
        self.retain = retain
        self.watch_requests: list[int] = []  # after_seq of every WatchJobs call
        # As the ledger does: a stream that falls behind ends, and its client resumes by sequence.
        self.live: Topic[watcher_pb2.JobEvent] = Topic(retain, Overflow.DROP_SUBSCRIBER, name="fake WatchJobs")

    # -- driven by the test ------------------------------------------------------------------

    def add_job(self, path: str, size: int = 1_000_000, **fields) -> common_pb2.Job:
        job = common_pb2.Job(id=uuid.uuid4().hex[:12], path=path, size=size, state=common_pb2.JOB_STATE_QUEUED,
                             max_attempts=5, eta_s=-1, trace_id=uuid.uuid4().hex, created_at=now(), **fields)
        self._record(job, watcher_pb2.JOB_EVENT_KIND_CREATED, "queued")
        return job

    def update(self, job_id: str, kind: int = watcher_pb2.JOB_EVENT_KIND_STATE, message: str = "",
               **fields) -> common_pb2.Job:
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
            name = common_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()
            counts[name] = counts.get(name, 0) + 1
        done = [job for job in self.jobs.values() if job.state == common_pb2.JOB_STATE_DONE]
        return watcher_pb2.JobTotals(jobs_by_state=counts, files_delivered=len(done),
                                     bytes_delivered=sum(job.size for job in done))

    def _record(self, job: common_pb2.Job, kind: int, message: str) -> None:
        job.updated_at.CopyFrom(now())
        self.jobs[job.id] = job
        self.seq += 1
        event = watcher_pb2.JobEvent(seq=self.seq, kind=kind, job=job, message=message, at=now(),
                                     totals=self.totals())
        self.events.append(event)
        del self.events[:-self.retain]
        self.live.publish(event)

    # -- the service -------------------------------------------------------------------------

    def WatchJobs(self, request, context):
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

    async def ListJobs(self, request, context):
        jobs = [job for job in self.jobs.values()
                if (not request.states or job.state in request.states) and job.path.startswith(request.path_prefix)]
        if request.page_token and not request.page_token.isdigit():
            raise InvalidArgument("page_token: not one of ours")
        start = int(request.page_token or 0)
        size = request.page_size or 50
        page = jobs[start:start + size]
        more = start + size < len(jobs)
        return watcher_pb2.ListJobsResponse(jobs=page, next_page_token=str(start + size) if more else "",
                                            total=len(jobs))

    async def GetJob(self, request, context):
        if request.id not in self.jobs:
            raise NotFound(f"no job {request.id}")
        return self.jobs[request.id]

    async def RetryJob(self, request, context):
        job = await self.GetJob(request, context)
        if job.state not in (common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED):
            raise FailedPrecondition(f"job {job.id} is {common_pb2.JobState.Name(job.state)}, not failed")
        return self.update(job.id, state=common_pb2.JOB_STATE_QUEUED, error="", attempts=0, message="retry")

    async def CancelJob(self, request, context):
        job = await self.GetJob(request, context)
        if job.state in FINAL:
            raise FailedPrecondition(f"job {job.id} already ended")
        return self.update(job.id, state=common_pb2.JOB_STATE_CANCELLED, message="cancelled")

    async def GetStats(self, request, context):
        totals = self.totals()
        return watcher_pb2.Stats(jobs_by_state=totals.jobs_by_state, files_delivered=totals.files_delivered,
                                 bytes_delivered=totals.bytes_delivered, files_seen=len(self.jobs),
                                 last_seq=self.seq, watch_root="/media/OUT")


class FakeStreamer(streamer_pb2_grpc.StreamerServiceServicer):
    def __init__(self) -> None:
        self.tunnel = streamer_pb2.TunnelStatus(mode=streamer_pb2.TUNNEL_MODE_QUICK, state=streamer_pb2.TUNNEL_STATE_UP,
                                                public_url="https://quiet-river.trycloudflare.com", since=now())
        self.seq = itertools.count(1)
        self.live: Topic[streamer_pb2.StreamerEvent] = Topic(STATUS_BUFFER, Overflow.DROP_OLDEST)

    def set_tunnel(self, **fields) -> None:
        assign(self.tunnel, **fields)
        self.live.publish(streamer_pb2.StreamerEvent(seq=next(self.seq), at=now(), tunnel=self.tunnel))

    def transfer(self, **fields) -> None:
        self.live.publish(streamer_pb2.StreamerEvent(seq=next(self.seq), at=now(),
                                                     transfer=streamer_pb2.TransferProgress(**fields)))

    def WatchEvents(self, request, context):
        first = streamer_pb2.StreamerEvent(seq=next(self.seq), at=now(), tunnel=self.tunnel)
        return follow(self.live, [first])

    async def GetTunnelStatus(self, request, context):
        return self.tunnel


@dataclass
class PendingLogin:
    binding: str
    expires: float


class FakeAuth(auth_pb2_grpc.AuthServiceServicer):
    """An IdP that approves at once: the authorize URL is the callback itself."""

    def __init__(self, login_ttl_s: float = 600) -> None:
        self.status = auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_DISCONNECTED, grant=auth_pb2.GRANT_KIND_WEB_APP)
        self.redirect_uri = "http://127.0.0.1:1/auth/callback"
        self.login_ttl_s = login_ttl_s
        self.pending: dict[str, PendingLogin] = {}
        self.live: Topic[auth_pb2.AuthStatus] = Topic(STATUS_BUFFER, Overflow.DROP_OLDEST)

    def set_status(self, **fields) -> None:
        status = auth_pb2.AuthStatus()
        status.CopyFrom(self.status)
        assign(status, **fields)
        self.status = status
        self.live.publish(status)

    def WatchStatus(self, request, context):
        return follow(self.live, [self.status])

    async def GetStatus(self, request, context):
        return self.status

    async def BeginAuthorization(self, request, context):
        state = uuid.uuid4().hex
        self.pending[state] = PendingLogin(request.binding, time.monotonic() + self.login_ttl_s)
        url = f"{self.redirect_uri}?{urlencode({'code': 'code-' + state, 'state': state})}"
        return auth_pb2.BeginAuthorizationResponse(authorize_url=url, state=state)

    async def CompleteAuthorization(self, request, context):
        login = self.pending.pop(request.state, None)
        if login is None:
            raise InvalidArgument("unknown or already used state")
        if login.expires < time.monotonic():
            raise FailedPrecondition("the login expired; start again")
        if login.binding != request.binding:
            raise PermissionDenied("the login was started in another browser")
        expires = now()
        expires.FromSeconds(expires.seconds + 86_400)
        self.set_status(state=auth_pb2.AUTH_STATE_CONNECTED, user_name="Ada Editor", user_email="ada@example.com",
                        access_expires_at=expires, connected_at=now(), message="")
        return self.status

    async def Disconnect(self, request, context):
        self.set_status(state=auth_pb2.AUTH_STATE_DISCONNECTED, user_name="", user_email="", message="disconnected")
        return self.status


REGISTER = {
    "watcher": (watcher_pb2, watcher_pb2_grpc.add_WatcherServiceServicer_to_server),
    "streamer": (streamer_pb2, streamer_pb2_grpc.add_StreamerServiceServicer_to_server),
    "auth": (auth_pb2, auth_pb2_grpc.add_AuthServiceServicer_to_server),
}


@dataclass
class FakeServices:
    watcher: FakeWatcher = field(default_factory=FakeWatcher)
    streamer: FakeStreamer = field(default_factory=FakeStreamer)
    auth: FakeAuth = field(default_factory=FakeAuth)
    ports: dict[str, int] = field(default_factory=dict)
    servers: dict[str, GrpcServer] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        return Config(services=ServicesConfig(**{name: f"127.0.0.1:{port}" for name, port in self.ports.items()}))

    async def start(self, name: str | None = None) -> None:
        for service in [name] if name else list(REGISTER):
            proto, add_to_server = REGISTER[service]
            server = GrpcServer()
            server.add(Servicer(proto, add_to_server, getattr(self, service)))
            self.ports[service] = await server.start(f"127.0.0.1:{self.ports.get(service, 0)}")
            await server.set_serving(True)
            self.servers[service] = server

    async def stop(self, name: str | None = None) -> None:
        for service in [name] if name else list(self.servers):
            await self.servers.pop(service).stop(STOP_GRACE_S)
