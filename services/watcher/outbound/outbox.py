"""The outbox: every event for every webhook and notification rule, written to SQLite
(`<state_dir>/watcher/outbox.sqlite`, WAL, synchronous FULL) before anything is sent, and the
delivery log they make.

An entry is one event for one target, under an idempotency key made from the event and the
target, unique: adding the same event again changes nothing, so whoever turns events into
entries may do it twice (after a crash) without sending anything twice over. `marks` are
named values written in the same transaction as the entries they go with: how far the ledger
has been read, the last state of each Frame.io connection, the day of the last digest.
Entries are sent oldest first per target; a sent or rejected one stays in the log for
`log_days`. SQLite runs on one worker thread (postflow/core/sqlite.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postflow.core.errors import NotFound
from postflow.core.sqlite import SqliteStore, transaction

PENDING, SENT, REJECTED = "pending", "sent", "rejected"

DDL = """
CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE, target TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
    event TEXT NOT NULL, job_id TEXT NOT NULL, path TEXT NOT NULL, pipeline TEXT NOT NULL, body TEXT NOT NULL,
    created_at REAL NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL, last_error TEXT NOT NULL DEFAULT '', sent_at REAL
);
CREATE INDEX IF NOT EXISTS entries_due ON entries (target, status, id);
CREATE INDEX IF NOT EXISTS entries_by_age ON entries (status, created_at);
"""


@dataclass(frozen=True)
class NewEntry:
    key: str  # the idempotency key
    target: str  # the key of the rule it goes to (Target.key)
    kind: str  # "webhook" or "notification"
    label: str  # what the log shows of the target: never its URL
    event: str
    job_id: str
    path: str
    pipeline: str
    body: str  # the JSON sent (a webhook's body; what a notification's message is made from)


@dataclass(frozen=True)
class Entry(NewEntry):
    id: int
    created_at: float
    status: str
    attempts: int
    next_at: float
    last_error: str
    sent_at: float | None


COLUMNS = ("key", "target", "kind", "label", "event", "job_id", "path", "pipeline", "body")
SELECT = f"SELECT {', '.join(COLUMNS)}, id, created_at, status, attempts, next_at, last_error, sent_at FROM entries"


class Outbox(SqliteStore):
    name = "outbox"
    ddl = DDL
    synchronous = "FULL"  # an entry stored is an event that will be sent

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(path)
        self.clock = clock

    # -- writes ---------------------------------------------------------------------------

    async def add(self, entries: Iterable[NewEntry], marks: Mapping[str, str] | None = None) -> set[str]:
        """Stores the entries whose keys are new and sets `marks`, in one transaction; returns
        the targets that got an entry."""
        rows, now = list(entries), self.clock()

        def work() -> set[str]:
            added = set()
            with transaction(self.db) as db:
                for entry in rows:
                    cursor = db.execute(
                        f"INSERT OR IGNORE INTO entries ({', '.join(COLUMNS)}, created_at, status, next_at)"
                        f" VALUES ({', '.join('?' * len(COLUMNS))}, ?, ?, ?)",
                        (*(getattr(entry, column) for column in COLUMNS), now, PENDING, now))
                    if cursor.rowcount:
                        added.add(entry.target)
                for name, value in (marks or {}).items():
                    db.execute("INSERT OR REPLACE INTO marks (name, value) VALUES (?, ?)", (name, value))
            return added

        return await self.run(work)

    async def sent(self, ids: list[int]) -> None:
        await self._update(ids, "status = ?, sent_at = ?, last_error = '', attempts = attempts + 1",
                           SENT, self.clock())

    async def failed(self, ids: list[int], error: str, next_at: float) -> None:
        """Another try at `next_at`."""
        await self._update(ids, "last_error = ?, next_at = ?, attempts = attempts + 1", error, next_at)

    async def rejected(self, ids: list[int], error: str) -> None:
        """The receiver refused them for good: kept in the log, tried again only on replay."""
        await self._update(ids, "status = ?, last_error = ?, attempts = attempts + 1", REJECTED, error)

    async def _update(self, ids: list[int], assignments: str, *values: Any) -> None:
        marks = ",".join("?" * len(ids))
        await self.run(lambda: self.db.execute(f"UPDATE entries SET {assignments} WHERE id IN ({marks})",
                                                (*values, *ids)))

    async def replay(self, entry_id: int) -> Entry:
        """The entry, pending again from now (its body and key unchanged); NotFound if unknown."""
        await self.run(lambda: self.db.execute(
            "UPDATE entries SET status = ?, next_at = ?, sent_at = NULL WHERE id = ?",
            (PENDING, self.clock(), entry_id)))
        return await self.entry(entry_id)

    async def prune(self, before: float) -> int:
        """Forgets the entries sent or rejected before `before`; how many."""
        cursor = await self.run(lambda: self.db.execute(
            "DELETE FROM entries WHERE status != ? AND created_at < ?", (PENDING, before)))
        return cursor.rowcount

    # -- reads ----------------------------------------------------------------------------

    async def mark(self, name: str) -> str | None:
        row = await self.run(lambda: self.db.execute("SELECT value FROM marks WHERE name = ?", (name,)).fetchone())
        return None if row is None else row[0]

    async def pending(self, target: str, limit: int) -> list[Entry]:
        """The target's oldest pending entries."""
        return await self._select(f"{SELECT} WHERE target = ? AND status = ? ORDER BY id LIMIT ?",
                                  (target, PENDING, limit))

    async def recent(self, limit: int) -> list[Entry]:
        """The newest entries first."""
        return await self._select(f"{SELECT} ORDER BY id DESC LIMIT ?", (limit,))

    async def entry(self, entry_id: int) -> Entry:
        found = await self._select(f"{SELECT} WHERE id = ?", (entry_id,))
        if not found:
            raise NotFound(f"no delivery {entry_id}")
        return found[0]

    async def _select(self, sql: str, args: tuple[Any, ...]) -> list[Entry]:
        rows = await self.run(lambda: self.db.execute(sql, args).fetchall())
        return [Entry(*row) for row in rows]
