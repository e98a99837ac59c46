"""What goes out: an event as webhooks receive it (its JSON body) and as notifications are
made from it, built from a ledger event (a job queued, delivered, failed or cancelled) or from
what the watcher's followers report (a connection needing a reconnect, a re-login deadline
near, the tunnel down, the daily digest).

    {"type": "delivered", "occurred_at": "2026-12-07T08:54:46.123Z",
     "job": {"id", "path", "name", "pipeline", "connection", "state", "view_url", "size",
             "attempts", "error", "trace_id", "dashboard_url"},
     "detail": {…}}

`job` is null for events of no job; `detail` holds what such an event says (a connection, a
deadline, the digest's counts). A failed job's `error` is the reason and its `dashboard_url`
lists it on the dashboard, where Retry is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.jobs import CANCELLED, CREATED, DONE, FAILED, STATE, state_name

JOB_EVENT_TYPES = {DONE: "delivered", FAILED: "failed", CANCELLED: "cancelled"}


@dataclass(frozen=True)
class Outgoing:
    type: str
    source: str  # unique among events: with a target's key, the idempotency key
    body: dict[str, Any]
    pipelines: frozenset[str] = field(default_factory=frozenset)  # those it concerns; empty: every one

    @property
    def job(self) -> dict[str, Any]:
        return self.body["job"] or {}

    def encoded(self) -> str:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_link(dashboard: str, path: str) -> str:
    """The dashboard listing the job (its path searched for)."""
    return f"{dashboard}/?{urlencode({'q': path})}"


def job_view(job: common_pb2.Job, dashboard: str) -> dict[str, Any]:
    return {"id": job.id, "path": job.path, "name": job.path.rsplit("/", 1)[-1], "pipeline": job.pipeline,
            "connection": job.connection, "state": state_name(job.state), "view_url": job.view_url,
            "size": job.size, "attempts": job.attempts, "error": job.error, "trace_id": job.trace_id,
            "dashboard_url": job_link(dashboard, job.path)}


def from_job_event(event: watcher_pb2.JobEvent, dashboard: str) -> Outgoing | None:
    """The event a stored ledger event makes, if any: a job created is "queued"; one that is
    DONE, FAILED or CANCELLED is "delivered", "failed" or "cancelled". A job changed again
    in such a state (the after-delivery action recorded) makes the same event as its arrival
    there, under the same source (job and attempt), so the outbox keeps it once."""
    if event.kind == CREATED:
        kind, source = "queued", f"e{event.seq}"
    elif event.kind == STATE and event.job.state in JOB_EVENT_TYPES:
        kind = JOB_EVENT_TYPES[event.job.state]
        source = f"{kind}-{event.job.id}-{event.job.attempts}"
    else:
        return None
    body = {"type": kind, "occurred_at": iso_time(event.at.ToNanoseconds() / 1e9),
            "job": job_view(event.job, dashboard), "detail": {"message": event.message}}
    return Outgoing(kind, source, body, frozenset({event.job.pipeline}))


def service_event(kind: str, source: str, at: float, detail: dict[str, Any],
                  pipelines: frozenset[str] = frozenset()) -> Outgoing:
    return Outgoing(kind, source, {"type": kind, "occurred_at": iso_time(at), "job": None, "detail": detail},
                    pipelines)
