"""A job as the ledger stores it, its states, and its wire form (`postflow.v1.Job`)."""

from __future__ import annotations

import dataclasses
import posixpath
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from postflow.v1 import common_pb2, watcher_pb2

QUEUED = common_pb2.JOB_STATE_QUEUED
PREPARING = common_pb2.JOB_STATE_PREPARING
UPLOADING = common_pb2.JOB_STATE_UPLOADING
VERIFYING = common_pb2.JOB_STATE_VERIFYING
WAITING = common_pb2.JOB_STATE_WAITING
DONE = common_pb2.JOB_STATE_DONE
FAILED = common_pb2.JOB_STATE_FAILED
CANCELLED = common_pb2.JOB_STATE_CANCELLED

ACTIVE = frozenset({QUEUED, PREPARING, UPLOADING, VERIFYING, WAITING})
IN_FLIGHT = frozenset({PREPARING, UPLOADING, VERIFYING})
FINAL = frozenset({DONE, FAILED, CANCELLED})

PULL = common_pb2.TRANSFER_MODE_PULL
PUSH = common_pb2.TRANSFER_MODE_PUSH

CREATED = watcher_pb2.JOB_EVENT_KIND_CREATED
STATE = watcher_pb2.JOB_EVENT_KIND_STATE
PROGRESS = watcher_pb2.JOB_EVENT_KIND_PROGRESS

# Why a WAITING job waits; only BACKOFF jobs become due by the clock.
BACKOFF, RECONNECT, UNSTABLE = "backoff", "reconnect", "unstable"


def state_name(state: int) -> str:
    return common_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()


@dataclass(frozen=True)
class Job:
    id: str
    path: str
    size: int
    mtime_ns: int
    state: int
    max_attempts: int
    created_at: float
    updated_at: float
    inode: int = 0
    mode: int = 0  # chosen for the current attempt
    requested_mode: int = 0  # from SubmitFile; 0 = configured
    version_policy: int = 0
    destination: str = ""  # Frame.io folder path under the project root
    attempts: int = 0
    error: str = ""
    bytes_done: int = 0
    rate_bps: float = 0.0
    folder_id: str = ""
    file_id: str = ""
    stack_id: str = ""
    version: int = 0
    view_url: str = ""
    ticket_id: str = ""
    source_url: str = ""
    create_started_at: float = 0.0  # wall time just before the attempt asked Frame.io to create the file
    stale_file_ids: str = ""  # space-separated Frame.io files of abandoned attempts, to delete
    trace_id: str = ""
    traceparent: str = ""
    tracestate: str = ""
    next_attempt_at: float = 0.0
    waiting_reason: str = ""
    waiting_kind: str = ""
    epoch: int = 0  # bumped by every change made from outside the running attempt

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    def replace(self, **changes) -> Job:
        return dataclasses.replace(self, **changes)


COLUMNS = tuple(f.name for f in dataclasses.fields(Job))


def _timestamp(seconds: float) -> Timestamp | None:
    if not seconds:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def to_proto(job: Job) -> common_pb2.Job:
    remaining = job.size - job.bytes_done
    eta = remaining / job.rate_bps if job.rate_bps > 0 and job.state in IN_FLIGHT else -1.0
    return common_pb2.Job(
        id=job.id, path=job.path, size=job.size, mtime_ns=job.mtime_ns, state=job.state, mode=job.mode,
        attempts=job.attempts, max_attempts=job.max_attempts, error=job.error, bytes_done=job.bytes_done,
        rate_bps=job.rate_bps, eta_s=eta, destination=job.destination, frameio_file_id=job.file_id,
        frameio_folder_id=job.folder_id, version_stack_id=job.stack_id, view_url=job.view_url,
        trace_id=job.trace_id, created_at=_timestamp(job.created_at), updated_at=_timestamp(job.updated_at),
        next_attempt_at=_timestamp(job.next_attempt_at if job.state == WAITING else 0.0),
        waiting_reason=job.waiting_reason if job.state == WAITING else "", version=job.version,
    )
