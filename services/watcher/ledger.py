"""The durable job ledger: SQLite in WAL mode at `<state_dir>/watcher/ledger.sqlite`.

Every change of a job is one transaction that also appends a numbered event, so a crash at
any point leaves either the old or the new state, and WatchJobs can resume from a sequence
number. A job's identity is (pipeline, path, size, mtime_ns): rescans and restarts find it again
instead of duplicating it. Each job carries an `epoch`, bumped by every change made from
outside its running attempt (cancel, retry, new content); the attempt's own writes name the
epoch they belong to, so a stale attempt can never overwrite a newer decision.

Transfer progress (bytes, rate, open connections) is kept in memory, not written: reads
show it, the next change of the job stores its bytes and rate, and each report goes to live
subscribers as a PROGRESS event that carries the sequence number of the last stored event
(it is not replayed: a subscriber resuming from that number gets every change after it).

All SQLite work, and the progress kept beside it, runs on one worker thread; events reach
subscribers in commit order. A subscriber that falls `live_buffer` events behind is dropped
(its subscription ends) and resumes by sequence number.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from postflow.core.pubsub import Overflow, Topic
from postflow.core.sqlite import SqliteStore, transaction
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher import schema
from services.watcher.feed import Head, Progress, Totals, event_proto
from services.watcher.job_proto import to_proto
from services.watcher.jobs import (
    COLUMNS,
    CREATED,
    DONE,
    FINAL,
    IN_FLIGHT,
    PROGRESS,
    QUEUED,
    STATE,
    WAITING,
    Change,
    Job,
    WaitingKind,
    restart_on_new_content,
    state_name,
)
from services.watcher.scanner import FileStat
from services.watcher.schema import ACTIVE_SQL, IDENTITY, IN_FLIGHT_SQL, JobQuery, Page

log = logging.getLogger(__name__)
T = TypeVar("T")



class Transaction:
    """One write transaction: rows written, and the events recording them (each with the
    totals as of it), stored and published together on commit."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db
        self.totals = ledger.totals.copy()
        self.events: list[tuple[Job, watcher_pb2.JobEventKind, str, watcher_pb2.JobTotals]] = []

    def get(self, job_id: str) -> Job | None:
        return self.ledger.job(self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def insert(self, job: Job, message: str) -> None:
        self.db.execute(f"INSERT INTO jobs ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})",
                        schema.row_values(job))
        self._record(None, job, CREATED, message)

    def write(self, job: Job, change: Change, *, bump_epoch: bool = False) -> Job:
        """Applies `change` to `job`; the progress kept in memory is stored with it."""
        fields = dict(change.fields)
        progress = self.ledger.progress_of.pop(job.id, None)
        if progress is not None:
            fields = {"bytes_done": progress.bytes_done, "rate_bps": progress.rate_bps} | fields
        fields["updated_at"] = self.ledger.clock()
        if bump_epoch:
            fields["epoch"] = job.epoch + 1
        stored = {key: schema.column_value(key, value) for key, value in fields.items()}
        self.db.execute(f"UPDATE jobs SET {', '.join(f'{key} = ?' for key in stored)} WHERE id = ?",
                        (*stored.values(), job.id))
        after = job.replace(**fields, connections=0)
        self._record(job, after, STATE, change.message)
        return after

    def _record(self, before: Job | None, after: Job, kind: watcher_pb2.JobEventKind, message: str) -> None:
        self.totals.count(before, after)
        self.events.append((after, kind, message, self.totals.proto()))


class Ledger(SqliteStore):
    name = "ledger"
    synchronous = "FULL"  # a pulled plug must not lose a committed transition
    rows_by_name = True

    def __init__(self, path: Path, *, retain_events: int = 10_000, live_buffer: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(path)
        self.retain_events = retain_events
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None  # for events published from the worker thread
        self.live_events: Topic[watcher_pb2.JobEvent] = Topic(live_buffer, Overflow.DROP_SUBSCRIBER,
                                                              name="job event subscribers")
        # Owned by the worker thread:
        self.totals = Totals()
        self.progress_of: dict[str, Progress] = {}  # job id → progress of its transfer in flight
        self._last_seq = 0
        self._since_trim = 0

    # -- plumbing -------------------------------------------------------------------------

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await super().open()

    def prepare(self, db: sqlite3.Connection) -> None:
        schema.migrate(db)
        db.executescript(schema.DDL)
        missing = set(COLUMNS) - set(schema.columns(db, "jobs"))
        if missing:
            raise RuntimeError(f"ledger {self.path}: missing columns {sorted(missing)}")
        if "totals" not in schema.columns(db, "events"):
            db.execute("ALTER TABLE events ADD COLUMN totals BLOB NOT NULL DEFAULT x''")  # a ledger from before totals
        self.totals = Totals()
        for state, count in db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            self.totals.by_state[state] = count
        self.totals.files_delivered, self.totals.bytes_delivered = db.execute(
            f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM jobs WHERE state = {DONE}").fetchone()
        self._last_seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]

    def _publish(self, events: list[watcher_pb2.JobEvent]) -> None:
        assert self._loop is not None
        for event in events:
            self._loop.call_soon_threadsafe(self.live_events.publish, event)

    async def _transact(self, work: Callable[[Transaction], T]) -> T:
        return await self.run(self._transaction, work)

    def _transaction(self, work: Callable[[Transaction], T]) -> T:
        txn = Transaction(self)
        with transaction(self.db):
            result = work(txn)
            events = [self._insert_event(*event) for event in txn.events]
        self.totals = txn.totals
        if events:
            self._last_seq = events[-1].seq
            self._publish(events)
            self._trim(len(events))
        return result

    def _insert_event(self, job: Job, kind: watcher_pb2.JobEventKind, message: str, totals: watcher_pb2.JobTotals
                      ) -> watcher_pb2.JobEvent:
        proto, at = to_proto(job), self.clock()
        cursor = self.db.execute(
            "INSERT INTO events (job_id, kind, message, at, job, totals) VALUES (?, ?, ?, ?, ?, ?)",
            (job.id, kind, message, at, proto.SerializeToString(), totals.SerializeToString()))
        assert cursor.lastrowid is not None
        return event_proto(cursor.lastrowid, kind, proto, message, at, totals)

    def _trim(self, added: int) -> None:
        self._since_trim += added
        if self._since_trim >= max(1, self.retain_events // 10):
            self._since_trim = 0
            self.db.execute("DELETE FROM events WHERE seq <= ? - ?", (self._last_seq, self.retain_events))

    # -- reads ------------------------------------------------------------------------------

    def job(self, row: sqlite3.Row | None) -> Job | None:
        """The job of a row, with the progress of its transfer in flight."""
        if row is None:
            return None
        job = schema.job_from_row(row)
        progress = self.progress_of.get(job.id)
        if progress is None:
            return job
        return job.replace(bytes_done=progress.bytes_done, rate_bps=progress.rate_bps, connections=progress.connections)

    def _jobs(self, rows: Iterable[sqlite3.Row]) -> list[Job]:
        return [job for job in map(self.job, rows) if job is not None]

    async def get(self, job_id: str) -> Job | None:
        return await self.run(lambda: self.job(self.db.execute("SELECT * FROM jobs WHERE id = ?",
                                                                (job_id,)).fetchone()))

    async def find(self, pipeline: str, path: str, size: int, mtime_ns: int) -> Job | None:
        return await self.run(lambda: self.job(self.db.execute(
            f"SELECT * FROM jobs WHERE {IDENTITY}", (pipeline, path, size, mtime_ns)).fetchone()))

    async def unknown(self, pipeline: str, files: Sequence[FileStat]) -> list[FileStat]:
        """The files of `pipeline` whose content (path, size, mtime) no job was made for and
        that were not present when the pipeline first started with on_start "new-only"."""
        def read() -> list[FileStat]:
            return [file for file in files if self.db.execute(
                f"SELECT 1 FROM jobs WHERE {IDENTITY} UNION ALL SELECT 1 FROM seen WHERE {IDENTITY}",
                (pipeline, file.path, file.size, file.mtime_ns) * 2).fetchone() is None]

        return await self.run(read)

    async def active_paths(self, pipeline: str) -> dict[str, str]:
        """path → id of every job of `pipeline` that is not finished."""
        rows = await self.run(lambda: self.db.execute(
            f"SELECT path, id FROM jobs WHERE pipeline = ? AND state IN ({ACTIVE_SQL})", (pipeline,)).fetchall())
        return {row[0]: row[1] for row in rows}

    async def file_ids_in_use(self, file_ids: Collection[str], exclude_job: str) -> set[str]:
        """Which of these Frame.io file ids belong to jobs other than `exclude_job`."""
        if not file_ids:
            return set()
        marks = ",".join("?" * len(file_ids))
        rows = await self.run(lambda: self.db.execute(
            f"SELECT file_id FROM jobs WHERE file_id IN ({marks}) AND id != ?", (*file_ids, exclude_job)).fetchall())
        return {row[0] for row in rows}

    async def runnable(self, now: float, limit: int, running: Iterable[str], auth_ok: Collection[str],
                       pipelines: Collection[str]) -> list[Job]:
        """Jobs of `pipelines` to start now: attempts interrupted by a restart first, then the
        pipelines taking turns (each one's oldest, then each one's second oldest, ...). Jobs
        waiting for a reconnect only of the connections in `auth_ok`."""
        skip, among, connected = list(running), list(pipelines), list(auth_ok)
        if not among:
            return []
        skipped = ",".join("?" * len(skip)) or "''"
        reconnectable = ",".join("?" * len(connected)) or "''"
        waiting = f"state = {QUEUED} OR state = {WAITING}"
        sql = (f"SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY pipeline ORDER BY {waiting}, created_at)"
               f" AS turn FROM jobs WHERE id NOT IN ({skipped}) AND pipeline IN ({','.join('?' * len(among))})"
               f" AND (state IN ({IN_FLIGHT_SQL}, {QUEUED}) OR (state = {WAITING} AND ((waiting_kind = ?"
               f" AND next_attempt_at <= ?) OR (waiting_kind = ?"
               f" AND connection IN ({reconnectable}))))))"
               f" ORDER BY {waiting}, turn, created_at LIMIT ?")
        return await self.run(lambda: self._jobs(self.db.execute(
            sql, (*skip, *among, WaitingKind.BACKOFF, now, WaitingKind.RECONNECT, *connected, limit))))

    async def states_by_pipeline(self) -> dict[str, dict[str, int]]:
        """pipeline → state name → how many of its jobs are in it."""
        rows = await self.run(lambda: self.db.execute(
            "SELECT pipeline, state, COUNT(*) FROM jobs GROUP BY pipeline, state").fetchall())
        counts: dict[str, dict[str, int]] = {}
        for pipeline, state, count in rows:
            counts.setdefault(pipeline, {})[state_name(state)] = count
        return counts

    async def next_due(self) -> float | None:
        """When the earliest backoff ends (wall clock), if any job is in backoff."""
        row = await self.run(lambda: self.db.execute(
            f"SELECT MIN(next_attempt_at) FROM jobs WHERE state = {WAITING} AND waiting_kind = ?",
            (WaitingKind.BACKOFF,)).fetchone())
        return row[0]

    async def page(self, query: JobQuery, page_size: int, page_token: str) -> Page:
        """Newest first. `page_token` is "" or a `Page.next_token` (InvalidArgument otherwise)."""
        filters, args = query.where()
        paging, paging_args = "", []
        if page_token:
            created, last_id = schema.decode_page_token(page_token)
            paging = " AND (created_at < ? OR (created_at = ? AND id < ?))"
            paging_args = [created, created, last_id]

        def read() -> Page:
            total = self.db.execute(f"SELECT COUNT(*) FROM jobs WHERE {filters}", args).fetchone()[0]
            jobs = self._jobs(self.db.execute(
                f"SELECT * FROM jobs WHERE {filters}{paging} ORDER BY created_at DESC, id DESC LIMIT ?",
                [*args, *paging_args, page_size + 1]))
            token = schema.encode_page_token(jobs[page_size - 1]) if len(jobs) > page_size else ""
            return Page(jobs[:page_size], token, total)

        return await self.run(read)

    async def events_after(self, seq: int, limit: int = 1000) -> list[watcher_pb2.JobEvent]:
        """Stored events after `seq`, in order (at most `limit`)."""
        rows = await self.run(lambda: self.db.execute(
            "SELECT seq, kind, message, at, job, totals FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit)).fetchall())
        return [event_proto(row[0], row[1], common_pb2.Job.FromString(row[4]), row[2], row[3],
                            watcher_pb2.JobTotals.FromString(row[5])) for row in rows]

    async def head(self) -> Head:
        def read() -> Head:
            first = self.db.execute("SELECT COALESCE(MIN(seq), 0) FROM events").fetchone()[0]
            return Head(first, self._last_seq, self.totals.proto())

        return await self.run(read)

    async def folder(self, root_id: str, path: str) -> str | None:
        row = await self.run(lambda: self.db.execute(
            "SELECT folder_id FROM folders WHERE root_id = ? AND path = ?", (root_id, path)).fetchone())
        return row[0] if row else None

    async def save_folder(self, root_id: str, path: str, folder_id: str) -> None:
        await self.run(lambda: self.db.execute(
            "INSERT OR REPLACE INTO folders (root_id, path, folder_id) VALUES (?, ?, ?)", (root_id, path, folder_id)))

    async def forget_folders(self, root_id: str) -> None:
        await self.run(lambda: self.db.execute("DELETE FROM folders WHERE root_id = ?", (root_id,)))

    # -- writes -----------------------------------------------------------------------------

    async def register(self, rows: Sequence[Job], message: str) -> tuple[list[Job], list[Job]]:
        """New jobs, made by the caller. A row whose content has a job already is dropped; a
        row for a path with an unfinished job restarts that job on the new content instead;
        the others are inserted (event `message`). Returns (created jobs, restarted jobs)."""
        def work(txn: Transaction) -> tuple[list[Job], list[Job]]:
            created, restarted = [], []
            for row in rows:
                identity = (row.pipeline, row.path, row.size, row.mtime_ns)
                if txn.db.execute(f"SELECT 1 FROM jobs WHERE {IDENTITY}", identity).fetchone():
                    continue
                active = self.job(txn.db.execute(
                    f"SELECT * FROM jobs WHERE pipeline = ? AND path = ? AND state IN ({ACTIVE_SQL})"
                    " ORDER BY created_at DESC LIMIT 1", (row.pipeline, row.path)).fetchone())
                if active is None:
                    txn.insert(row, message)
                    created.append(row)
                else:
                    file = FileStat(row.path, row.size, row.mtime_ns, row.inode)
                    restarted.append(txn.write(active, restart_on_new_content(active, file), bump_epoch=True))
            return created, restarted

        return await self._transact(work)

    async def update(self, job_id: str, epoch: int, change: Change) -> Job | None:
        """A transition of the running attempt of `epoch`; None (nothing written) when the
        job has moved on (cancelled, retried, restarted) since the attempt began."""
        def work(txn: Transaction) -> Job | None:
            job = txn.get(job_id)
            if job is None or job.epoch != epoch or job.state in FINAL:
                return None
            return txn.write(job, change)

        return await self._transact(work)

    async def change(self, job_id: str, transition: Callable[[Job], Change | None]) -> Job:
        """A transition from outside the running attempt, decided on the job as stored
        (`transition` may raise Conflict; None changes nothing); the epoch is bumped so the
        attempt's later writes are void."""
        def work(txn: Transaction) -> Job:
            job = txn.get(job_id)
            if job is None:
                raise KeyError(job_id)
            change = transition(job)
            return job if change is None else txn.write(job, change, bump_epoch=True)

        return await self._transact(work)

    async def progress(self, job_id: str, epoch: int, progress: Progress) -> Job | None:
        """The transfer progress of the running attempt of `epoch`, kept in memory and sent
        to live subscribers; None as for `update` (or when the job has no transfer in flight)."""
        def work() -> Job | None:
            job = self.job(self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
            if job is None or job.epoch != epoch or job.state not in IN_FLIGHT:
                return None
            kept = replace(progress, bytes_done=job.recordable_progress(progress.bytes_done))
            self.progress_of[job_id] = kept
            job = job.replace(bytes_done=kept.bytes_done, rate_bps=kept.rate_bps, connections=kept.connections)
            self._publish([event_proto(self._last_seq, PROGRESS, to_proto(job), "", self.clock(),
                                       self.totals.proto())])
            return job

        return await self.run(work)

