"""The durable job ledger: SQLite in WAL mode at `<state_dir>/watcher/ledger.sqlite`.

Every change to a job is one transaction that also appends a numbered event, so a crash at
any point leaves either the old or the new state, and WatchJobs can resume from a sequence
number. A job's identity is (path, size, mtime_ns): rescans and restarts find it again
instead of duplicating it. Each job carries an `epoch`, bumped by every change made from
outside its running attempt (cancel, retry, new content); the attempt's own writes name the
epoch they belong to, so a stale attempt can never overwrite a newer decision.

All SQLite work runs on one worker thread; events reach subscribers in commit order.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from postflow.core.errors import InvalidArgument
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.jobs import (
    ACTIVE,
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
    to_proto,
)
from services.watcher.scanner import FileStat

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    state INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL,
    inode INTEGER NOT NULL DEFAULT 0, mode INTEGER NOT NULL DEFAULT 0,
    requested_mode INTEGER NOT NULL DEFAULT 0, version_policy INTEGER NOT NULL DEFAULT 0,
    destination TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '', bytes_done INTEGER NOT NULL DEFAULT 0, rate_bps REAL NOT NULL DEFAULT 0,
    folder_id TEXT NOT NULL DEFAULT '', file_id TEXT NOT NULL DEFAULT '', stack_id TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 0, view_url TEXT NOT NULL DEFAULT '',
    ticket_id TEXT NOT NULL DEFAULT '', source_url TEXT NOT NULL DEFAULT '',
    create_started_at REAL NOT NULL DEFAULT 0, stale_file_ids TEXT NOT NULL DEFAULT '',
    trace_id TEXT NOT NULL DEFAULT '', traceparent TEXT NOT NULL DEFAULT '', tracestate TEXT NOT NULL DEFAULT '',
    next_attempt_at REAL NOT NULL DEFAULT 0, waiting_reason TEXT NOT NULL DEFAULT '',
    waiting_kind TEXT NOT NULL DEFAULT '', epoch INTEGER NOT NULL DEFAULT 0,
    UNIQUE (path, size, mtime_ns)
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_age ON jobs (created_at, id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL, kind INTEGER NOT NULL, message TEXT NOT NULL, at REAL NOT NULL, job BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS folders (
    root_id TEXT NOT NULL, path TEXT NOT NULL, folder_id TEXT NOT NULL, PRIMARY KEY (root_id, path)
);
"""
ACTIVE_SQL = ",".join(str(s) for s in sorted(ACTIVE))
IN_FLIGHT_SQL = ",".join(str(s) for s in sorted(IN_FLIGHT))


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    next_token: str
    total: int


def event_proto(seq: int, kind: int, job: common_pb2.Job, message: str, at: float) -> watcher_pb2.JobEvent:
    event = watcher_pb2.JobEvent(seq=seq, kind=kind, job=job, message=message)
    event.at.FromNanoseconds(int(at * 1e9))
    return event


class Ledger:
    def __init__(self, path: Path, *, retain_events: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.retain_events = retain_events
        self.clock = clock
        self._db: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[asyncio.Queue] = set()
        self._since_trim = 0

    # -- plumbing -------------------------------------------------------------------------

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a pulled plug must not lose a committed transition
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        missing = set(COLUMNS) - {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
        if missing:
            raise RuntimeError(f"ledger {self.path}: missing columns {sorted(missing)}")
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "the ledger is not open"
        return self._db

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._executor, fn, *args)

    def subscribe(self, maxsize: int = 10_000) -> asyncio.Queue:
        """Live events (watcher_pb2.JobEvent) in commit order. A subscriber that falls
        `maxsize` behind is dropped: it receives None and should resume by sequence number."""
        queue: asyncio.Queue = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)

    def _publish(self, events: list[watcher_pb2.JobEvent]) -> None:
        for queue in list(self._subscribers):
            try:
                for event in events:
                    queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)

    def _transaction(self, work: Callable[[sqlite3.Connection, list], T]) -> T:
        """Runs `work(db, events)` in one write transaction; `events` it appends to (job,
        kind, message) are numbered and stored in the same transaction, then published."""
        db = self._db
        assert db is not None
        pending: list[tuple[Job, int, str]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db, pending)
            published = [self._insert_event(db, *item) for item in pending]
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if published:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._publish, published)
            self._trim(len(published))
        return result

    def _insert_event(self, db: sqlite3.Connection, job: Job, kind: int, message: str) -> watcher_pb2.JobEvent:
        proto = to_proto(job)
        at = self.clock()
        cursor = db.execute("INSERT INTO events (job_id, kind, message, at, job) VALUES (?, ?, ?, ?, ?)",
                            (job.id, kind, message, at, proto.SerializeToString()))
        return event_proto(cursor.lastrowid, kind, proto, message, at)

    def _trim(self, added: int) -> None:
        self._since_trim += added
        if self._since_trim >= max(1, self.retain_events // 10):
            self._since_trim = 0
            db = self._db
            assert db is not None
            db.execute("DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?", (self.retain_events,))

    # -- reads ------------------------------------------------------------------------------

    @staticmethod
    def _job(row: sqlite3.Row | None) -> Job | None:
        if row is None:
            return None
        values = {key: row[key] for key in COLUMNS}
        values["stale_file_ids"] = tuple(values["stale_file_ids"].split())
        values["waiting_kind"] = WaitingKind(values["waiting_kind"])
        return Job(**values)

    def _get(self, db: sqlite3.Connection, job_id: str) -> Job | None:
        return self._job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    async def get(self, job_id: str) -> Job | None:
        return await self._run(lambda: self._get(self.db, job_id))

    async def find(self, path: str, size: int, mtime_ns: int) -> Job | None:
        return await self._run(lambda: self._job(self.db.execute(
            "SELECT * FROM jobs WHERE path = ? AND size = ? AND mtime_ns = ?", (path, size, mtime_ns)).fetchone()))

    def _active_for(self, db: sqlite3.Connection, path: str) -> Job | None:
        return self._job(db.execute(
            f"SELECT * FROM jobs WHERE path = ? AND state IN ({ACTIVE_SQL}) ORDER BY created_at DESC LIMIT 1",
            (path,)).fetchone())

    async def active_paths(self) -> dict[str, str]:
        """path → id of every job that is not finished."""
        rows = await self._run(lambda: self.db.execute(
            f"SELECT path, id FROM jobs WHERE state IN ({ACTIVE_SQL})").fetchall())
        return {row[0]: row[1] for row in rows}

    async def file_ids_in_use(self, file_ids: Collection[str], exclude_job: str) -> set[str]:
        """Which of these Frame.io file ids belong to jobs other than `exclude_job`."""
        if not file_ids:
            return set()
        marks = ",".join("?" * len(file_ids))
        rows = await self._run(lambda: self.db.execute(
            f"SELECT file_id FROM jobs WHERE file_id IN ({marks}) AND id != ?", (*file_ids, exclude_job)).fetchall())
        return {row[0] for row in rows}

    async def runnable(self, now: float, limit: int, running: Iterable[str], auth_ok: bool) -> list[Job]:
        """Jobs to start now, attempts interrupted by a restart first, then oldest first."""
        skip = list(running)
        marks = ",".join("?" * len(skip)) or "''"
        sql = (f"SELECT * FROM jobs WHERE id NOT IN ({marks}) AND (state IN ({IN_FLIGHT_SQL}, {QUEUED})"
               f" OR (state = {WAITING} AND ((waiting_kind = ? AND next_attempt_at <= ?)"
               f" OR (waiting_kind = ? AND ?))))"
               f" ORDER BY state = {QUEUED} OR state = {WAITING}, created_at LIMIT ?")
        rows = await self._run(lambda: self.db.execute(
            sql, (*skip, WaitingKind.BACKOFF, now, WaitingKind.RECONNECT, auth_ok, limit)).fetchall())
        return [self._job(row) for row in rows]

    async def next_due(self) -> float | None:
        """When the earliest backoff ends (wall clock), if any job is in backoff."""
        row = await self._run(lambda: self.db.execute(
            f"SELECT MIN(next_attempt_at) FROM jobs WHERE state = {WAITING} AND waiting_kind = ?",
            (WaitingKind.BACKOFF,)).fetchone())
        return row[0]

    async def page(self, states: Sequence[int], path_prefix: str, page_size: int, page_token: str) -> Page:
        """Newest first. `page_token` is "" or a `Page.next_token` (InvalidArgument otherwise)."""
        where, args = ["1"], []
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        if path_prefix:
            where.append("substr(path, 1, ?) = ?")
            args.extend((len(path_prefix), path_prefix))
        filters = " AND ".join(where)
        paging, paging_args = "", []
        if page_token:
            created, last_id = _decode_token(page_token)
            paging = " AND (created_at < ? OR (created_at = ? AND id < ?))"
            paging_args = [created, created, last_id]

        def read() -> Page:
            total = self.db.execute(f"SELECT COUNT(*) FROM jobs WHERE {filters}", args).fetchone()[0]
            rows = self.db.execute(
                f"SELECT * FROM jobs WHERE {filters}{paging} ORDER BY created_at DESC, id DESC LIMIT ?",
                [*args, *paging_args, page_size + 1]).fetchall()
            jobs = [self._job(row) for row in rows[:page_size]]
            token = _encode_token(jobs[-1]) if len(rows) > page_size else ""
            return Page(jobs, token, total)

        return await self._run(read)

    async def events_after(self, seq: int, limit: int = 1000) -> list[watcher_pb2.JobEvent]:
        rows = await self._run(lambda: self.db.execute(
            "SELECT seq, kind, message, at, job FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit)).fetchall())
        return [event_proto(row[0], row[1], common_pb2.Job.FromString(row[4]), row[2], row[3]) for row in rows]

    async def seq_range(self) -> tuple[int, int]:
        """(oldest retained, newest) event sequence numbers; (0, 0) when there are none."""
        row = await self._run(lambda: self.db.execute("SELECT MIN(seq), MAX(seq) FROM events").fetchone())
        return row[0] or 0, row[1] or 0

    async def stats(self) -> tuple[dict[int, int], int, int]:
        """(count by state, files delivered, bytes delivered)."""
        def read():
            counts = dict(self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
            files, size = self.db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM jobs WHERE state = {DONE}").fetchone()
            return counts, files, size

        return await self._run(read)

    async def folder(self, root_id: str, path: str) -> str | None:
        row = await self._run(lambda: self.db.execute(
            "SELECT folder_id FROM folders WHERE root_id = ? AND path = ?", (root_id, path)).fetchone())
        return row[0] if row else None

    async def save_folder(self, root_id: str, path: str, folder_id: str) -> None:
        await self._run(lambda: self.db.execute(
            "INSERT OR REPLACE INTO folders (root_id, path, folder_id) VALUES (?, ?, ?)", (root_id, path, folder_id)))

    async def forget_folders(self, root_id: str) -> None:
        await self._run(lambda: self.db.execute("DELETE FROM folders WHERE root_id = ?", (root_id,)))

    # -- writes -----------------------------------------------------------------------------

    def _write(self, db: sqlite3.Connection, job: Job, fields: dict[str, Any]) -> Job:
        fields = {**fields, "updated_at": self.clock()}
        stored = {key: _column(key, value) for key, value in fields.items()}
        db.execute(f"UPDATE jobs SET {', '.join(f'{key} = ?' for key in stored)} WHERE id = ?",
                   (*stored.values(), job.id))
        return job.replace(**fields)

    def _insert(self, db: sqlite3.Connection, job: Job) -> None:
        db.execute(f"INSERT INTO jobs ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})",
                   [_column(key, getattr(job, key)) for key in COLUMNS])

    async def unknown(self, files: Sequence[FileStat]) -> list[FileStat]:
        """The files whose content (path, size, mtime) no job was made for."""
        def read() -> list[FileStat]:
            return [file for file in files if self.db.execute(
                "SELECT 1 FROM jobs WHERE path = ? AND size = ? AND mtime_ns = ?",
                (file.path, file.size, file.mtime_ns)).fetchone() is None]

        return await self._run(read)

    async def register(self, rows: Sequence[Job], message: str) -> tuple[list[Job], list[Job]]:
        """New jobs, made by the caller. A row whose content has a job already is dropped; a
        row for a path with an unfinished job restarts that job on the new content instead;
        the others are inserted (event `message`). Returns (created jobs, restarted jobs)."""
        def work(db, events):
            created, restarted = [], []
            for row in rows:
                if db.execute("SELECT 1 FROM jobs WHERE path = ? AND size = ? AND mtime_ns = ?",
                              (row.path, row.size, row.mtime_ns)).fetchone():
                    continue
                active = self._active_for(db, row.path)
                if active is None:
                    self._insert(db, row)
                    events.append((row, CREATED, message))
                    created.append(row)
                    continue
                change = restart_on_new_content(active, FileStat(row.path, row.size, row.mtime_ns, row.inode))
                job = self._write(db, active, change.fields | {"epoch": active.epoch + 1})
                events.append((job, STATE, change.message))
                restarted.append(job)
            return created, restarted

        return await self._run(self._transaction, work)

    async def update(self, job_id: str, epoch: int, change: Change) -> Job | None:
        """A transition of the running attempt of `epoch`; None (nothing written) when the
        job has moved on (cancelled, retried, restarted) since the attempt began."""
        def work(db, events):
            job = self._get(db, job_id)
            if job is None or job.epoch != epoch or job.state in FINAL:
                return None
            job = self._write(db, job, change.fields)
            events.append((job, STATE, change.message))
            return job

        return await self._run(self._transaction, work)

    async def progress(self, job_id: str, epoch: int, bytes_done: int, rate_bps: float) -> Job | None:
        """Transfer progress of the running attempt of `epoch` (None as for `update`)."""
        def work(db, events):
            job = self._get(db, job_id)
            if job is None or job.epoch != epoch or job.state in FINAL:
                return None
            job = self._write(db, job, {"bytes_done": bytes_done, "rate_bps": rate_bps})
            events.append((job, PROGRESS, ""))
            return job

        return await self._run(self._transaction, work)

    async def change(self, job_id: str, transition: Callable[[Job], Change | None]) -> Job:
        """A transition from outside the running attempt, decided on the job as stored
        (`transition` may raise Conflict; None changes nothing); the epoch is bumped so the
        attempt's later writes are void."""
        def work(db, events):
            job = self._get(db, job_id)
            if job is None:
                raise KeyError(job_id)
            change = transition(job)
            if change is None:
                return job
            job = self._write(db, job, change.fields | {"epoch": job.epoch + 1})
            events.append((job, STATE, change.message))
            return job

        return await self._run(self._transaction, work)


def _encode_token(last: Job) -> str:
    """Where the next page starts: after the (created_at, id) of the last job returned."""
    return base64.urlsafe_b64encode(json.dumps([last.created_at, last.id]).encode()).decode()


def _decode_token(token: str) -> tuple[float, str]:
    try:
        created, last_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(created, (int, float)) and isinstance(last_id, str) and last_id:
            return float(created), last_id
    except (ValueError, TypeError):
        pass
    raise InvalidArgument("page_token: not a token this service returned")


def _column(key: str, value: Any) -> Any:
    """A job field as its column stores it."""
    return " ".join(value) if key == "stale_file_ids" else value
