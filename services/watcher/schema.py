"""How the ledger stores jobs: the schema, a job as its row, and page tokens (opaque to
everyone but the ledger)."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from postflow.core.errors import InvalidArgument
from services.watcher.jobs import ACTIVE, COLUMNS, DONE, IN_FLIGHT, Job, WaitingKind

JOBS_DDL = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, pipeline TEXT NOT NULL DEFAULT 'default',
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
    connection TEXT NOT NULL DEFAULT 'default', project TEXT NOT NULL DEFAULT '',
    route_rule TEXT NOT NULL DEFAULT '', after_delivery_due TEXT NOT NULL DEFAULT '',
    delivered_at REAL NOT NULL DEFAULT 0, acted TEXT NOT NULL DEFAULT '', acted_by TEXT NOT NULL DEFAULT '',
    UNIQUE (pipeline, path, size, mtime_ns)
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_age ON jobs (created_at, id);
CREATE INDEX IF NOT EXISTS jobs_by_pipeline ON jobs (pipeline, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_delivery ON jobs (delivered_at);
"""
DDL = JOBS_DDL + """CREATE INDEX IF NOT EXISTS jobs_after_delivery_due ON jobs (updated_at)
    WHERE after_delivery_due != '';
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL, kind INTEGER NOT NULL, message TEXT NOT NULL, at REAL NOT NULL, job BLOB NOT NULL,
    totals BLOB NOT NULL DEFAULT x''
);
CREATE TABLE IF NOT EXISTS seen (
    pipeline TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL DEFAULT 0, at REAL NOT NULL, PRIMARY KEY (pipeline, path, size, mtime_ns)
);
CREATE TABLE IF NOT EXISTS unrouted (
    pipeline TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (pipeline, path)
);
CREATE TABLE IF NOT EXISTS pipelines_started (name TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
    root_id TEXT NOT NULL, path TEXT NOT NULL, folder_id TEXT NOT NULL, PRIMARY KEY (root_id, path)
);
"""
ACTIVE_SQL = ",".join(str(s) for s in sorted(ACTIVE))
IN_FLIGHT_SQL = ",".join(str(s) for s in sorted(IN_FLIGHT))
IDENTITY = "pipeline = ? AND path = ? AND size = ? AND mtime_ns = ?"
# A job delivered before jobs had `delivered_at` was delivered at its last update: nothing
# changes a DONE job.
BACKFILL_DELIVERED_AT = f"UPDATE jobs SET delivered_at = updated_at WHERE state = {DONE} AND delivered_at = 0"
# Columns added to jobs since pipelines: how an older ledger's jobs table gets each, and fills it.
ADDED_COLUMNS = {"after_delivery_due": ("TEXT NOT NULL DEFAULT ''", ""),
                 "delivered_at": ("REAL NOT NULL DEFAULT 0", BACKFILL_DELIVERED_AT),
                 "acted": ("TEXT NOT NULL DEFAULT ''", ""), "acted_by": ("TEXT NOT NULL DEFAULT ''", "")}


def migrate(db: sqlite3.Connection) -> None:
    """Brings an older ledger's jobs table up to date. From before pipelines: the table is
    rebuilt with the pipeline in each job's identity (every old job is the pipeline `default`'s);
    safe to repeat after a crash midway, the old rows wait in jobs_v1 until they are copied.
    A column added since (ADDED_COLUMNS) is added with its default, then filled in where that
    says how (`delivered_at` of the jobs already done; nothing is due after an old delivery; no
    old job records who asked for it: `acted` and `acted_by` stay "")."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "jobs" in tables and "pipeline" not in columns(db, "jobs"):
        db.execute("ALTER TABLE jobs RENAME TO jobs_v1")
        db.execute("DROP INDEX IF EXISTS jobs_by_state")
        db.execute("DROP INDEX IF EXISTS jobs_by_age")
        tables = tables - {"jobs"} | {"jobs_v1"}
    if "jobs_v1" in tables:
        db.executescript(JOBS_DDL)
        old = ", ".join(columns(db, "jobs_v1"))
        db.execute("BEGIN IMMEDIATE")
        db.execute(f"INSERT OR IGNORE INTO jobs ({old}) SELECT {old} FROM jobs_v1")
        db.execute(BACKFILL_DELIVERED_AT)
        db.execute("DROP TABLE jobs_v1")
        db.execute("COMMIT")
    if "jobs" in tables:
        present = columns(db, "jobs")
        for column, (definition, backfill) in ADDED_COLUMNS.items():
            if column not in present:
                db.execute("BEGIN IMMEDIATE")
                db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {definition}")
                if backfill:
                    db.execute(backfill)
                db.execute("COMMIT")


def columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


@dataclass(frozen=True)
class JobQuery:
    """Which jobs a page lists: every filter given must hold."""

    states: Sequence[int] = ()
    path_prefix: str = ""
    pipelines: Sequence[str] = ()
    search: str = ""  # in the path, case-insensitive

    def where(self) -> tuple[str, list[Any]]:
        where: list[str] = ["1"]
        args: list[Any] = []
        if self.states:
            where.append(f"state IN ({','.join('?' * len(self.states))})")
            args.extend(self.states)
        if self.pipelines:
            where.append(f"pipeline IN ({','.join('?' * len(self.pipelines))})")
            args.extend(self.pipelines)
        if self.path_prefix:
            where.append("substr(path, 1, ?) = ?")
            args.extend((len(self.path_prefix), self.path_prefix))
        if self.search:
            where.append("instr(lower(path), ?) > 0")
            args.append(self.search.lower())
        return " AND ".join(where), args


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    next_token: str
    total: int


def column_value(key: str, value: Any) -> Any:
    """A job field as its column stores it."""
    return " ".join(value) if key == "stale_file_ids" else value


def row_values(job: Job) -> list[Any]:
    return [column_value(key, getattr(job, key)) for key in COLUMNS]


def job_from_row(row: sqlite3.Row) -> Job:
    values = {key: row[key] for key in COLUMNS}
    values["stale_file_ids"] = tuple(values["stale_file_ids"].split())
    values["waiting_kind"] = WaitingKind(values["waiting_kind"])
    return Job(**values)


def encode_page_token(last: Job) -> str:
    """Where the next page starts: after the (created_at, id) of the last job returned."""
    return base64.urlsafe_b64encode(json.dumps([last.created_at, last.id]).encode()).decode()


def decode_page_token(token: str) -> tuple[float, str]:
    try:
        created, last_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(created, (int, float)) and isinstance(last_id, str) and last_id:
            return float(created), last_id
    except (ValueError, TypeError):
        pass
    raise InvalidArgument("page_token: not a token this service returned")
