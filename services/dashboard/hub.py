"""The dashboard's live state and the typed events that keep browsers in step with it.

One subscription each to watcher.WatchJobs (resumed by sequence number), streamer.WatchEvents
and auth.WatchStatus, each re-established with backoff when its service restarts. Each
starts with a unary call that proves the service answers (WatchJobs may stay silent when
nothing happened) and whose answer is used too. What arrives is folded into the current jobs,
tunnel, Frame.io connections, recent events and totals, and published as `job`, `tunnel`,
`auth` (one connection's view, its state "removed" once auth's config dropped it), `totals`,
`services`, `log` and `snapshot` events. With a certificates directory, the
mesh certificates' expiry is read from its public files every `CERTS_POLL_S` and published as
`certificates` (a list of `CertStatus.to_dict()`).

Each fact has one route. Jobs carry their own byte progress (bytes, rate, ETA, open
connections); from the streamer only the tunnel status is used. The job counts come with
every job event, so they always count the rows as the same event left them; only the scan
information (files seen, watch root) is asked for with GetStats, on connect and every
`SCAN_POLL_S`. Progress is coalesced here, once, to at most one event per job per
`progress_interval`; state changes are never held back.

The jobs kept here (at most `max_jobs`, finished ones evicted first) are the snapshot's, for SSE
clients that follow jobs; the page lists its jobs from `/api/jobs` a page at a time (any
pipeline, state or search, among thousands) and uses `job` events only to keep that page live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc

from postflow.core.backoff import Backoff
from postflow.core.clients import Clients
from postflow.core.dates import iso_utc_minute
from postflow.core.mesh.certs import CertPaths, certificate_report
from postflow.core.pipelines import DEFAULT
from postflow.core.streams import follow
from postflow.v1 import auth_pb2, common_pb2, streamer_pb2, watcher_pb2
from services.dashboard.fanout import Broadcaster
from services.dashboard.throttle import Throttle
from services.dashboard.views import auth_view, job_to_dict, job_totals_view, scan_view, tunnel_view

log = logging.getLogger(__name__)

FINAL_STATES = {"done", "failed", "cancelled"}
CALL_TIMEOUT_S = 10.0
SCAN_POLL_S = 5.0
CERTS_POLL_S = 60.0
HEALTHY_AFTER_S = 10.0
JOB_LOG_LEVELS = {"failed": "error", "waiting": "warning", "cancelled": "warning"}


@dataclass(frozen=True)
class Feed:
    """One upstream subscription: a probe call and its handler, then the stream and its."""

    service: str
    probe: Callable[[], Awaitable[Any]]
    on_probe: Callable[[Any], None]
    stream: Callable[[], grpc.aio.UnaryStreamCall]
    on_message: Callable[[Any], None]


class Hub:
    def __init__(self, clients: Clients, fanout: Broadcaster | None = None, *, max_jobs: int = 500,
                 progress_interval: float = 0.25, recent_events: int = 200,
                 backoff: tuple[float, float] = (0.5, 10.0), certs: CertPaths | None = None,
                 certs_poll_s: float = CERTS_POLL_S) -> None:
        self.clients = clients
        self.fanout = fanout or Broadcaster()
        self.jobs: dict[str, dict] = {}  # least recently updated first
        self.tunnel: dict | None = None
        self.auth: dict | None = None  # the default connection's view
        self.connections: dict[str, dict] = {}  # every connection's view, by name, in auth's order
        self.totals: dict | None = None  # job_totals_view and scan_view in one, once either is known
        self.certificates: list[dict] | None = None  # None: mesh.mtls off, or not read yet
        self._certs = certs
        self._certs_poll_s = certs_poll_s
        self._job_totals = job_totals_view(watcher_pb2.JobTotals())
        self._scan = scan_view(watcher_pb2.Stats())
        self.services = {"watcher": False, "streamer": False, "auth": False}
        self.recent: deque[dict] = deque(maxlen=recent_events)
        self._max_jobs = max_jobs
        self._backoff = backoff
        self._after_seq = 0
        self._incoming: dict[str, dict] | None = None
        self._job_progress = Throttle(progress_interval, self._publish_progress)
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        watcher, streamer, auth = self.clients.watcher, self.clients.streamer, self.clients.auth
        feeds = [
            Feed("watcher", lambda: watcher.GetStats(watcher_pb2.GetStatsRequest(), timeout=CALL_TIMEOUT_S),
                 self._on_watcher_stats, self._watch_jobs, self._on_job_event),
            Feed("streamer",
                 lambda: streamer.GetTunnelStatus(streamer_pb2.GetTunnelStatusRequest(), timeout=CALL_TIMEOUT_S),
                 self._set_tunnel, lambda: streamer.WatchEvents(streamer_pb2.WatchStreamerEventsRequest()),
                 self._on_streamer_event),
            Feed("auth", lambda: auth.ListConnections(auth_pb2.ListConnectionsRequest(), timeout=CALL_TIMEOUT_S),
                 self._set_connections, lambda: auth.WatchStatus(auth_pb2.WatchAuthStatusRequest()), self.set_auth),
        ]
        self._tasks = [asyncio.create_task(self._follow(feed), name=f"follow-{feed.service}") for feed in feeds]
        self._tasks.append(asyncio.create_task(self._poll_scan(), name="scan-info"))
        if self._certs is not None:
            self._tasks.append(asyncio.create_task(self._poll_certificates(self._certs), name="certificates"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._job_progress.close()
        self.fanout.close()

    def status(self) -> dict:
        return {"auth": self.auth, "connections": list(self.connections.values()), "tunnel": self.tunnel,
                "totals": self.totals, "services": dict(self.services),
                "certificates": self.certificates, "clients": self.fanout.clients,
                "dropped_clients": self.fanout.dropped}

    def snapshot(self) -> dict:
        return {**self.status(), "jobs": list(self.jobs.values()), "events": list(self.recent)}

    def set_auth(self, status: auth_pb2.AuthStatus) -> None:
        """One connection's status: kept, published as `auth` and logged when it changed."""
        view = auth_view(status)
        name = view["connection"]
        if view["state"] == "removed":
            self._remove_connection(name)
            return
        before = self.connections.get(name)
        if view == before:
            return
        self.connections[name] = view
        if name == DEFAULT:
            self.auth = view
        self.fanout.publish("auth", view)
        if before is None or (before["state"], before["user"]) != (view["state"], view["user"]):
            self._log("auth", *describe_auth(view))
        if view["reauth_soon"] and not (before and before["reauth_soon"]):
            self._log("auth", "warning", f"{frameio_name(name)} login expires on "
                                         f"{iso_utc_minute(view['reauth_deadline'])} — reconnect before then")

    def _set_connections(self, listed: auth_pb2.ListConnectionsResponse) -> None:
        """Every connection as auth lists them (on each connect): those it no longer has go."""
        names = [status.connection or DEFAULT for status in listed.connections]
        for gone in [name for name in self.connections if name not in names]:
            self._remove_connection(gone)
        self.connections = {name: self.connections[name] for name in names if name in self.connections}
        for status in listed.connections:
            self.set_auth(status)

    def _remove_connection(self, name: str) -> None:
        if self.connections.pop(name, None) is None:
            return
        if name == DEFAULT:
            self.auth = None
        self.fanout.publish("auth", {"connection": name, "state": "removed"})
        self._log("auth", "info", f"{frameio_name(name)} removed from the config")

    def _replace(self, kind: str, view: Any) -> tuple[bool, Any]:
        """Makes `view` the current `kind` (tunnel, totals, certificates) and publishes it, unless
        nothing changed; returns whether it changed and the view it replaced."""
        before = getattr(self, kind)
        if view == before:
            return False, before
        setattr(self, kind, view)
        self.fanout.publish(kind, view)
        return True, before

    # -- upstream ------------------------------------------------------------------------------

    async def _follow(self, feed: Feed) -> None:
        async def connect() -> None:
            feed.on_probe(await feed.probe())
            self._set_service(feed.service, True)

        def disconnected(reason: str) -> None:
            self._set_service(feed.service, False, reason)

        base_s, max_s = self._backoff
        await follow(feed.service, feed.stream, feed.on_message,
                     Backoff(base_s, max_s, jitter=0.2, reset_after_s=HEALTHY_AFTER_S),
                     on_connect=connect, on_disconnect=disconnected)

    def _set_service(self, service: str, up: bool, reason: str = "") -> None:
        if self.services[service] == up:
            return
        self.services[service] = up
        self.fanout.publish("services", dict(self.services))
        if up:
            self._log(service, "info", f"{service} connected")
        else:
            self._log(service, "warning", f"{service} unreachable ({reason}); reconnecting")

    def _on_watcher_stats(self, stats: watcher_pb2.Stats) -> None:
        if stats.last_seq < self._after_seq:
            self._after_seq = 0  # a new ledger whose numbers mean other events: start from a snapshot
        self._set_scan(stats)

    def _watch_jobs(self) -> grpc.aio.UnaryStreamCall:
        self._incoming = None
        return self.clients.watcher.WatchJobs(watcher_pb2.WatchJobsRequest(after_seq=self._after_seq))

    def _on_job_event(self, event: watcher_pb2.JobEvent) -> None:
        self._after_seq = max(self._after_seq, event.seq)
        if event.kind == watcher_pb2.JOB_EVENT_KIND_SNAPSHOT:
            self._incoming = self._incoming or {}
            self._incoming[event.job.id] = job_to_dict(event.job)
        elif event.kind == watcher_pb2.JOB_EVENT_KIND_SNAPSHOT_END:
            self._replace_jobs(self._incoming or {}, event.totals)
            self._incoming = None
        elif event.kind == watcher_pb2.JOB_EVENT_KIND_PROGRESS:
            job = self._store(event.job)
            self._set_job_totals(event.totals)
            self._job_progress.offer(job["id"], job)
        else:
            before = self.jobs.get(event.job.id)
            job = self._store(event.job)
            if job["state"] in FINAL_STATES:
                self._job_progress.forget(job["id"])
            else:
                self._job_progress.discard(job["id"])
            # Totals first: a page that shows the row in its new state already counts it.
            self._set_job_totals(event.totals)
            self.fanout.publish("job", job)
            if before is None or before["state"] != job["state"]:
                self._log("watcher", *describe_job(job, event.message), pipeline=job["pipeline"])

    def _publish_progress(self, job_id: Hashable, job: dict) -> None:
        self.fanout.publish("job", job)

    def _store(self, proto: common_pb2.Job) -> dict:
        job = job_to_dict(proto)
        self.jobs.pop(job["id"], None)
        self.jobs[job["id"]] = job
        self._evict()
        return job

    def _replace_jobs(self, jobs: dict[str, dict], totals: watcher_pb2.JobTotals) -> None:
        self._job_progress.close()
        self.jobs = jobs
        self._evict()
        self._job_totals = job_totals_view(totals)
        self.totals = self._merged_totals()
        self.fanout.reset(self.snapshot())

    def _evict(self) -> None:
        """Keeps the live view bounded: the least recently updated finished jobs go first
        (they stay available from /api/jobs)."""
        while len(self.jobs) > self._max_jobs:
            victim = next((i for i, j in self.jobs.items() if j["state"] in FINAL_STATES), next(iter(self.jobs)))
            del self.jobs[victim]
            self._job_progress.forget(victim)

    def _on_streamer_event(self, event: streamer_pb2.StreamerEvent) -> None:
        if event.HasField("tunnel"):  # transfers reach the page as the progress of their jobs
            self._set_tunnel(event.tunnel)

    def _set_tunnel(self, tunnel: streamer_pb2.TunnelStatus) -> None:
        view = tunnel_view(tunnel)
        changed, before = self._replace("tunnel", view)
        if changed and (before is None or (before["state"], before["url"]) != (view["state"], view["url"])):
            level = "warning" if view["state"] == "down" else "info"
            detail = f": {view['message']}" if view["message"] else ""
            self._log("streamer", level, f"tunnel ({view['mode']}) {view['state']} {view['url']}".rstrip() + detail)

    def _set_job_totals(self, totals: watcher_pb2.JobTotals) -> None:
        self._job_totals = job_totals_view(totals)
        self._replace("totals", self._merged_totals())

    def _set_scan(self, stats: watcher_pb2.Stats) -> None:
        scan = scan_view(stats)
        if scan["watch_root_available"] != self._scan["watch_root_available"]:
            if scan["watch_root_available"]:
                self._log("watcher", "info", f"watch root {scan['watch_root']} available again")
            else:
                self._log("watcher", "error",
                          f"watch root {scan['watch_root']} unavailable: {scan['watch_root_problem']}")
        self._scan = scan
        self._replace("totals", self._merged_totals())

    def _merged_totals(self) -> dict:
        return {**self._job_totals, **self._scan}

    async def _poll_scan(self) -> None:
        while True:
            await asyncio.sleep(SCAN_POLL_S)
            if self.services["watcher"]:
                with contextlib.suppress(grpc.RpcError):  # the watcher feed reports outages
                    self._set_scan(await self.clients.watcher.GetStats(watcher_pb2.GetStatsRequest(),
                                                                       timeout=CALL_TIMEOUT_S))

    async def _poll_certificates(self, paths: CertPaths) -> None:
        while True:
            changed, before = self._replace("certificates", await asyncio.to_thread(certificate_report, paths))
            troubled = {entry["identity"] for entry in self.certificates or [] if entry["state"] != "ok"}
            if changed and troubled - {entry["identity"] for entry in before or [] if entry["state"] != "ok"}:
                self._log("dashboard", "warning", f"mesh certificates need attention: {', '.join(sorted(troubled))} "
                                                  "(`postflow certs show`)")
            await asyncio.sleep(self._certs_poll_s)

    def _log(self, source: str, level: str, message: str, pipeline: str | None = None) -> None:
        """A line of the recent events; `pipeline` names the pipeline of the job it is about."""
        entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "source": source,
                 "level": level, "message": message, **({} if pipeline is None else {"pipeline": pipeline})}
        self.recent.append(entry)
        self.fanout.publish("log", entry)


def describe_job(job: dict, message: str) -> tuple[str, str]:
    state = job["state"]
    detail = job["error"] if state == "failed" else job["waiting_reason"] if state == "waiting" else message
    suffix = f" ({detail})" if detail not in ("", state) else ""
    return JOB_LOG_LEVELS.get(state, "info"), f"{job['path']}: {state}{suffix}"


def frameio_name(connection: str) -> str:
    """How the recent events name a connection: the default one as before there were several."""
    return "Frame.io" if connection == DEFAULT else f"Frame.io ({connection})"


def describe_auth(view: dict) -> tuple[str, str]:
    state, name = view["state"], frameio_name(view["connection"])
    if state == "connected":
        return "info", f"{name} connected" + (f" as {view['user']}" if view["user"] else "")
    if state == "reconnect_needed":
        return "error", f"{name} needs reconnecting: {view['message'] or 'the refresh token was refused'}"
    return "info", f"{name} {state.replace('_', ' ')}" + (f": {view['message']}" if view["message"] else "")
