"""The JSON shapes the dashboard sends (SSE and REST), made from the services' messages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from postflow.core.pipelines import DEFAULT
from postflow.core.protos import label
from postflow.v1 import auth_pb2, common_pb2, streamer_pb2, watcher_pb2


def timestamp(message: Message, name: str) -> str | None:
    value: Timestamp = getattr(message, name)
    return value.ToJsonString() if message.HasField(name) else None


def job_to_dict(job: common_pb2.Job) -> dict:
    path = PurePosixPath(job.path)
    return {
        "id": job.id, "path": job.path, "name": path.name, "folder": str(path.parent).strip("."),
        "size": job.size, "state": label(common_pb2.JobState, job.state),
        "mode": label(common_pb2.TransferMode, job.mode),
        "attempts": job.attempts, "max_attempts": job.max_attempts, "error": job.error,
        "bytes_done": job.bytes_done, "rate_bps": job.rate_bps, "eta_s": job.eta_s, "connections": job.connections,
        "destination": job.destination, "frameio_file_id": job.frameio_file_id, "view_url": job.view_url,
        "trace_id": job.trace_id, "waiting_reason": job.waiting_reason, "version": job.version,
        "created_at": timestamp(job, "created_at"), "updated_at": timestamp(job, "updated_at"),
        "pipeline": job.pipeline, "connection": job.connection, "project": job.project, "route_rule": job.route_rule,
        "acted": job.acted, "acted_by": job.acted_by,
    }


def pipeline_view(status: watcher_pb2.PipelineStatus) -> dict:
    by_state = {state: count for state, count in status.jobs_by_state.items() if count}
    return {
        "name": status.name, "root": status.root, "connection": status.connection, "project": status.project,
        "jobs": sum(by_state.values()), "jobs_by_state": by_state, "unrouted": status.unrouted,
        "waiting_on_start": status.waiting_on_start, "root_available": status.root_available,
        "root_problem": status.root_problem, "on_start": status.on_start, "after_delivery": status.after_delivery,
    }


def unrouted_view(file: watcher_pb2.UnroutedFile) -> dict:
    return {"pipeline": file.pipeline, "path": file.path, "name": PurePosixPath(file.path).name, "size": file.size,
            "reason": file.reason, "seen_at": timestamp(file, "seen_at")}


def auth_view(status: auth_pb2.AuthStatus) -> dict:
    """One Frame.io connection's status; its state is "removed" once it left auth's config."""
    return {
        "connection": status.connection or DEFAULT,
        "state": label(auth_pb2.AuthState, status.state),
        "grant": label(auth_pb2.GrantKind, status.grant),
        "user": status.user_name or status.user_email,
        "email": status.user_email,
        "account_id": status.account_id,
        "expires_at": timestamp(status, "access_expires_at"),
        "connected_at": timestamp(status, "connected_at"),
        "last_refresh_at": timestamp(status, "last_refresh_at"),
        "refresh_count": status.refresh_count,
        "message": status.message,
        # When someone must log in again (null: server-to-server, or no login), and whether
        # that is within auth.relogin_warning_s.
        "reauth_deadline": timestamp(status, "reauth_deadline"),
        "reauth_soon": status.reauth_soon,
    }


def tunnel_view(tunnel: streamer_pb2.TunnelStatus) -> dict:
    return {
        "mode": label(streamer_pb2.TunnelMode, tunnel.mode),
        "state": label(streamer_pb2.TunnelState, tunnel.state),
        "url": tunnel.public_url,
        "restarts": tunnel.restarts,
        "message": tunnel.message,
        "since": timestamp(tunnel, "since"),
        "bandwidth_limit_bps": tunnel.bandwidth_limit_bps,  # now; 0: no limit
        "bandwidth_schedule": tunnel.bandwidth_schedule,  # transfer.bwlimit
    }


def job_totals_view(totals: watcher_pb2.JobTotals) -> dict:
    """The totals as the page shows them: states with no job are left out."""
    return {
        "jobs_by_state": {state: count for state, count in totals.jobs_by_state.items() if count},
        "files_delivered": totals.files_delivered,
        "bytes_delivered": totals.bytes_delivered,
    }


def scan_view(stats: watcher_pb2.Stats) -> dict:
    return {
        "files_seen": stats.files_seen,
        "last_scan_at": timestamp(stats, "last_scan_at"),
        "watch_root": stats.watch_root,
        # Nothing heard from the watcher yet (an empty Stats) is not an unavailable root.
        "watch_root_available": stats.watch_root_available or not stats.watch_root,
        "watch_root_problem": stats.watch_root_problem,
    }


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def history_counts_view(counts: watcher_pb2.HistoryCounts) -> dict:
    """One bucket's or pipeline's counts; no times to Frame.io (null) without deliveries."""
    delivered = counts.deliveries > 0
    return {"deliveries": counts.deliveries, "bytes": counts.bytes, "failures": counts.failures,
            "median_s": counts.median_s if delivered else None, "p95_s": counts.p95_s if delivered else None}


def history_view(history: watcher_pb2.GetHistoryResponse, start: float, end: float, bucket_s: int) -> dict:
    return {
        "from": iso(start), "to": iso(end), "bucket_s": bucket_s,
        "buckets": [{"start": timestamp(bucket, "start"), **history_counts_view(bucket.all),
                     "pipelines": {counts.pipeline: history_counts_view(counts) for counts in bucket.pipelines}}
                    for bucket in history.buckets],
        "total": history_counts_view(history.all),
        "pipelines": {counts.pipeline: history_counts_view(counts) for counts in history.pipelines},
        "failure_causes": [{"cause": cause.cause, "pipeline": cause.pipeline, "count": cause.count,
                            "example": cause.example, "last_at": timestamp(cause, "last_at")}
                           for cause in history.failure_causes],
        "capped": history.capped,
    }


def delivery_view(delivery: watcher_pb2.Delivery) -> dict:
    """One entry of the delivery log of webhooks and notifications (never a URL or a secret)."""
    return {"id": delivery.id, "kind": delivery.kind, "target": delivery.target, "event": delivery.event,
            "status": delivery.status, "idempotency_key": delivery.idempotency_key, "attempts": delivery.attempts,
            "last_error": delivery.last_error, "job_id": delivery.job_id, "path": delivery.path,
            "pipeline": delivery.pipeline, "created_at": timestamp(delivery, "created_at"),
            "next_attempt_at": timestamp(delivery, "next_attempt_at"), "sent_at": timestamp(delivery, "sent_at")}
