"""The events of no job, for the outbox: from what the watcher's followers report (auth's
status of each Frame.io connection, the streamer's tunnel) and from the clock (the daily
digest).

- `reconnect_needed`: a connection entered "reconnect needed". Its last state is a mark in the
  outbox, written with the event, so a restart or a reconnected stream does not repeat it.
- `relogin_soon`: a connection's re-login deadline is within auth.relogin_warning_s; once per
  deadline (the deadline is in the event's key).
- `tunnel_down`: the tunnel has not been up for outbound.tunnel_down_after_s; once per outage.
- `digest`: at outbound.digest_at (local time) each day, what the last 24 hours delivered
  and failed, per pipeline; a watcher that was down then sends it when it starts that day.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from postflow.core.config import Config
from postflow.core.outbound_config import dashboard_base
from postflow.core.pipelines import DEFAULT, pipelines_of
from postflow.core.protos import label, to_seconds
from postflow.v1 import auth_pb2, streamer_pb2
from services.watcher.jobs import DONE, FAILED
from services.watcher.ledger import Ledger
from services.watcher.outbound.dispatcher import Outbound, wait_event
from services.watcher.outbound.events import iso_time, service_event

DIGEST_MARK = "digest"
FAILED_LISTED = 10  # failed paths a digest names per pipeline
DAY_S = 86400.0


def digest_moment(day: date, at: str) -> datetime:
    """`at` (HH:MM, local time) on `day`, as an aware datetime."""
    hours, minutes = map(int, at.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes).astimezone()


class Alerts:
    def __init__(self, outbound: Outbound, ledger: Ledger, config: Config, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.outbound = outbound
        self.ledger = ledger
        self.config = config  # replaced on reload
        self.clock = clock
        self._auth_statuses: asyncio.Queue[auth_pb2.AuthStatus] = asyncio.Queue()
        self._tunnel_changed = asyncio.Event()
        self._down_since: float | None = None  # when the tunnel stopped being up
        self._tunnel_message = ""  # why it is down

    # -- what the followers report (called on the event loop, never blocking) --------------

    def auth_status(self, status: auth_pb2.AuthStatus) -> None:
        self._auth_statuses.put_nowait(status)

    def tunnel_status(self, status: streamer_pb2.TunnelStatus) -> None:
        if status.state == streamer_pb2.TUNNEL_STATE_UP:
            self._down_since, self._tunnel_message = None, ""
        elif status.state != streamer_pb2.TUNNEL_STATE_UNSPECIFIED:
            if self._down_since is None:
                self._down_since = to_seconds(status.since) or self.clock()
            self._tunnel_message = status.message or self._tunnel_message  # the latest reason given
        self._tunnel_changed.set()

    async def run(self) -> None:
        await asyncio.gather(self._follow_auth(), self._watch_tunnel(), self._digests())

    # -- Frame.io connections -------------------------------------------------------------

    def _connection_detail(self, connection: str, status: auth_pb2.AuthStatus) -> tuple[dict[str, Any], frozenset]:
        query = "" if connection == DEFAULT else "?" + urlencode({"connection": connection})
        detail = {"connection": connection, "message": status.message,
                  "reconnect_url": f"{dashboard_base(self.config)}/auth/login{query}"}
        pipelines = frozenset(p.name for p in pipelines_of(self.config) if p.connection == connection)
        return detail, pipelines

    async def _follow_auth(self) -> None:
        while True:
            await self.connection_changed(await self._auth_statuses.get())

    async def connection_changed(self, status: auth_pb2.AuthStatus) -> None:
        connection, now = status.connection or DEFAULT, self.clock()
        if status.state == auth_pb2.AUTH_STATE_REMOVED:
            return
        detail, pipelines = self._connection_detail(connection, status)
        if status.reauth_soon and status.HasField("reauth_deadline"):
            deadline = to_seconds(status.reauth_deadline)
            await self.outbound.enqueue([service_event("relogin_soon", f"relogin-{connection}-{int(deadline)}", now,
                                                       {**detail, "deadline": iso_time(deadline)}, pipelines)])
        mark, state = f"auth:{connection}", label(auth_pb2.AuthState, status.state)
        if await self.outbound.outbox.mark(mark) == state:
            return
        needed = status.state == auth_pb2.AUTH_STATE_RECONNECT_NEEDED
        episode = f"reconnect-{connection}-{uuid.uuid4().hex[:12]}"  # told once: the mark goes with it
        events = [service_event("reconnect_needed", episode, now, detail, pipelines)]
        await self.outbound.enqueue(events if needed else [], {mark: state})

    # -- the tunnel -----------------------------------------------------------------------

    async def _watch_tunnel(self) -> None:
        alerted: float | None = None  # the outage (its start) already told
        while True:
            self._tunnel_changed.clear()
            since = self._down_since
            if since is None or since == alerted:
                await self._tunnel_changed.wait()
                continue
            wait_s = since + self.config.outbound.tunnel_down_after_s - self.clock()
            if wait_s > 0:
                await wait_event(self._tunnel_changed, wait_s)
                continue
            detail = {"since": iso_time(since), "down_for_s": round(self.clock() - since),
                      "message": self._tunnel_message}
            await self.outbound.enqueue([service_event("tunnel_down", f"tunnel-{round(since * 1000)}", self.clock(),
                                                       detail)])
            alerted = since

    # -- the daily digest -----------------------------------------------------------------

    async def _digests(self) -> None:
        while True:
            now = datetime.fromtimestamp(self.clock()).astimezone()
            today = now.date()
            moment = digest_moment(today, self.config.outbound.digest_at)
            last = await self.outbound.outbox.mark(DIGEST_MARK)
            if last is None:  # the first start: the first digest is the next one
                first = today if now >= moment else today - timedelta(days=1)
                await self.outbound.enqueue([], {DIGEST_MARK: first.isoformat()})
            elif now >= moment and last != today.isoformat():
                await self.send_digest(now.timestamp(), today.isoformat())
            else:
                upcoming = moment if now < moment else digest_moment(today + timedelta(days=1),
                                                                      self.config.outbound.digest_at)
                await asyncio.sleep(max(upcoming.timestamp() - self.clock(), 0.0))

    async def send_digest(self, until: float, day: str) -> None:
        """The digest of the 24 hours before `until`, as the digest of `day`."""
        since = until - DAY_S
        # A done job may change after its delivery (its after-delivery action): count it when it was delivered.
        settled_at = f"CASE state WHEN {DONE} THEN delivered_at ELSE updated_at END"
        done_or_failed = f"{settled_at} >= ? AND {settled_at} < ? AND state IN ({DONE}, {FAILED})"

        def read() -> tuple[list[Any], list[Any]]:
            db = self.ledger.db
            counts = db.execute(f"SELECT pipeline, state, COUNT(*), COALESCE(SUM(size), 0) FROM jobs"
                                f" WHERE {done_or_failed} GROUP BY pipeline, state", (since, until)).fetchall()
            failed = db.execute(f"SELECT pipeline, path FROM jobs WHERE {done_or_failed} AND state = {FAILED}"
                                " ORDER BY updated_at DESC", (since, until)).fetchall()
            return counts, failed

        counts, failed = await self.ledger.run(read)
        pipelines: dict[str, dict[str, Any]] = {
            pipeline.name: {"delivered": 0, "bytes": 0, "failed": 0, "failed_paths": []}
            for pipeline in pipelines_of(self.config)}
        for name, state, count, size in counts:
            tally = pipelines.setdefault(name, {"delivered": 0, "bytes": 0, "failed": 0, "failed_paths": []})
            if state == DONE:
                tally["delivered"], tally["bytes"] = count, size
            else:
                tally["failed"] = count
        for name, path in failed:
            if len(pipelines[name]["failed_paths"]) < FAILED_LISTED:
                pipelines[name]["failed_paths"].append(path)
        detail = {"since": iso_time(since), "until": iso_time(until), "pipelines": pipelines}
        await self.outbound.enqueue([service_event("digest", f"digest-{day}", until, detail)], {DIGEST_MARK: day})
