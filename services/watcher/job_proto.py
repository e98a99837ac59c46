"""A job's wire form (`postflow.v1.Job`)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from postflow.v1 import common_pb2
from services.watcher.jobs import IN_FLIGHT, WAITING, Job


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
        connections=job.connections, pipeline=job.pipeline, connection=job.connection, project=job.project,
        route_rule=job.route_rule, acted=job.acted, acted_by=job.acted_by,
    )
