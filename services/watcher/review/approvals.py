"""Approval drives the filespace: what a delivered file's review status becoming approved
(`review.approved_status`) sets off, for a pipeline whose resolved `review.on_approved` says so.

The review core reports every status it learns (`status_seen`); the last one of each file is
kept in `<state_dir>/watcher/approvals.sqlite`, so only a change to approved counts:

- `notify`: one "approved" event per transition to approved (approved, then not, then
  approved again: two events). Its source is made from the job and the number of that
  transition, so an event enqueued again after a crash is one event still.
- `copy_to`: the approved master copied into the folder once per delivered file (see
  approved_copy.py). A copy is due from the transition on; `run` works through the due copies
  one at a time, when woken and at start, so a big copy never holds up whoever reported the
  status, and one a restart cut short is made then. Done, the store keeps where it went and
  its sha256: a file approved again is not copied again. A copy that fails (the file changed
  since it was delivered, no permission, disk full) is a WARNING and the store's `error`; the
  next transition to approved tries again. A pipeline not running (root unavailable, removed)
  keeps its copies due, looked at again every RETRY_S.

Pipelines without `on_approved` are not followed: nothing is stored or done for them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from postflow.core.config import Config
from postflow.core.outbound_config import dashboard_base
from postflow.core.pipelines import pipelines_of
from postflow.core.review_config import ApprovedAction
from postflow.core.sqlite import SqliteStore
from services.watcher.after_delivery import reason
from services.watcher.due_work import work_through
from services.watcher.job_proto import to_proto
from services.watcher.jobs import DONE, Job
from services.watcher.outbound.events import Outgoing, iso_time, job_view
from services.watcher.review.approved_copy import copy_approved
from services.watcher.review.metrics import ReviewMetrics
from services.watcher.routing import PipelineRoutes

log = logging.getLogger(__name__)

RETRY_S = 60.0  # how often due copies of a pipeline that is not running are looked at again

Enqueue = Callable[[Iterable[Outgoing]], Awaitable[None]]


class ApprovalStore(SqliteStore):
    name = "approvals"
    ddl = """
    CREATE TABLE IF NOT EXISTS approvals (
        job_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, path TEXT NOT NULL,
        size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        status TEXT NOT NULL, status_at REAL NOT NULL,   -- the last review status seen, and when
        approvals INTEGER NOT NULL DEFAULT 0,            -- transitions to approved so far
        copy_due INTEGER NOT NULL DEFAULT 0,
        target TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL DEFAULT '',  -- the copy, under the root
        copied_at REAL, error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS approvals_due ON approvals (copy_due) WHERE copy_due;
    """


@dataclass(frozen=True)
class Approval:
    job_id: str
    pipeline: str
    path: str
    size: int
    mtime_ns: int
    status: str
    status_at: float
    approvals: int
    copy_due: bool
    target: str
    sha256: str
    copied_at: float | None
    error: str


SELECT = f"SELECT {', '.join(Approval.__dataclass_fields__)} FROM approvals"


class Approvals:
    def __init__(self, store: ApprovalStore, enqueue: Enqueue, routes_of: Callable[[str], PipelineRoutes | None],
                 config: Config, *, clock: Callable[[], float] = time.time, metrics: ReviewMetrics | None = None
                 ) -> None:
        """`routes_of`: a running pipeline's routes (None: not running now); `config`: as now,
        set again on reload."""
        self.store = store
        self.enqueue = enqueue
        self.routes_of = routes_of
        self.config = config
        self.clock = clock
        self.metrics = metrics or ReviewMetrics()
        self.stopping = threading.Event()
        self._wake = asyncio.Event()

    def on_approved(self, pipeline: str) -> ApprovedAction | None:
        own = next((p for p in pipelines_of(self.config) if p.name == pipeline), None)
        return None if own is None else self.config.review.actions(own.review).on_approved

    async def status_seen(self, job: Job, status: str) -> None:
        """The review status of the job's delivered file is `status` now."""
        action = self.on_approved(job.pipeline)
        if action is None or job.state != DONE:
            return
        before = await self.approval(job.id)
        approved = status == self.config.review.approved_status
        if before is not None and before.status == status:
            return
        transition = approved and (before is None or before.status != self.config.review.approved_status)
        count = (before.approvals if before else 0) + transition
        if transition and action.notify:
            told = [self.approved_event(job, status, count)]
            await self.enqueue(told)
            self.metrics.told(told)
        copy_due = transition and bool(action.copy_folder) and not (before and before.sha256)
        await self.store.run(self._record, job, status, count, copy_due)
        if transition:
            log.info("%s approved (%s)%s", job.path, status, ": a copy is due" if copy_due else "")
        if copy_due:
            self._wake.set()

    def _record(self, job: Job, status: str, count: int, copy_due: bool) -> None:
        self.store.db.execute(
            "INSERT INTO approvals (job_id, pipeline, path, size, mtime_ns, status, status_at, approvals, copy_due)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET status = excluded.status,"
            " status_at = excluded.status_at, approvals = excluded.approvals,"
            " copy_due = copy_due OR excluded.copy_due",
            (job.id, job.pipeline, job.path, job.size, job.mtime_ns, status, self.clock(), count, copy_due))

    def approved_event(self, job: Job, status: str, count: int) -> Outgoing:
        body = {"type": "approved", "occurred_at": iso_time(self.clock()),
                "job": job_view(to_proto(job), dashboard_base(self.config)),
                "detail": {"status": status, "version": job.version or 1, "view_url": job.view_url}}
        return Outgoing("approved", f"approved:{job.id}:{count}", body, frozenset({job.pipeline}))

    async def approval(self, job_id: str) -> Approval | None:
        rows = await self.store.run(lambda: self.store.db.execute(f"{SELECT} WHERE job_id = ?", (job_id,)).fetchall())
        return Approval(*rows[0]) if rows else None

    async def due(self) -> list[Approval]:
        rows = await self.store.run(lambda: self.store.db.execute(
            f"{SELECT} WHERE copy_due ORDER BY status_at").fetchall())
        return [Approval(*row) for row in rows]

    # -- the copies -------------------------------------------------------------------------

    async def run(self) -> None:
        await work_through(self.due, self.copy, self._wake, self.stopping, "approvals", RETRY_S)

    async def copy(self, approval: Approval) -> bool:
        """Makes the due copy and records how it went; False when its pipeline is not running."""
        routes = self.routes_of(approval.pipeline)
        if routes is None:
            return False
        action = self.on_approved(approval.pipeline)
        if action is None or not action.copy_folder:
            log.info("approvals: no copy of %s, pipeline %s copies approved files no more", approval.path,
                     approval.pipeline)
            await self._copied(approval.job_id, "", "", "no copy_to now")
            return True
        job = Job(id=approval.job_id, path=approval.path, size=approval.size, mtime_ns=approval.mtime_ns, state=DONE,
                  max_attempts=0, created_at=0.0, updated_at=0.0, pipeline=approval.pipeline)
        try:
            target, sha256 = await asyncio.to_thread(copy_approved, routes.root, routes.config.done_folder,
                                                     action.copy_folder, job, self.stopping)
        except Exception as exc:  # whatever it is, say so; the next approval tries again
            why = reason(exc)
            log.warning("approvals: could not copy %s into %s: %s", approval.path, action.copy_folder, why)
            await self._copied(approval.job_id, "", "", why)
            return True
        where = target.relative_to(routes.root).as_posix()
        log.info("approvals: copied %s to %s (sha256 %s)", approval.path, where, sha256)
        await self._copied(approval.job_id, where, sha256, "")
        return True

    async def _copied(self, job_id: str, target: str, sha256: str, error: str) -> None:
        await self.store.run(lambda: self.store.db.execute(
            "UPDATE approvals SET copy_due = 0, target = ?, sha256 = ?, copied_at = ?, error = ? WHERE job_id = ?",
            (target, sha256, self.clock() if sha256 else None, error, job_id)))
