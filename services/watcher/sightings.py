"""What the watcher saw but did not upload, kept in the ledger's database: files present when a
pipeline first started with on_start "new-only" (`seen`: never uploaded unless asked, by
`Rescan` with upload_existing), and files no routing rule matches (`unrouted`: listed with why,
routed again when the rules change)."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from postflow.core.errors import InvalidArgument
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat


@dataclass(frozen=True)
class Unrouted:
    pipeline: str
    path: str
    size: int
    reason: str
    at: float


@dataclass(frozen=True)
class UnroutedPage:
    files: list[Unrouted]
    next_token: str
    total: int


class Sightings:
    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.clock = clock

    async def first_start(self, pipeline: str) -> bool:
        """Whether `pipeline` has never started before; from now on it has."""
        def work(db: sqlite3.Connection) -> bool:
            return db.execute("INSERT OR IGNORE INTO pipelines_started (name, at) VALUES (?, ?)",
                              (pipeline, self.clock())).rowcount == 1

        return await self.ledger.run(work, self.ledger.db)

    async def record_seen(self, pipeline: str, files: Sequence[FileStat]) -> None:
        now = self.clock()
        await self.ledger.run(lambda: self.ledger.db.executemany(
            "INSERT OR IGNORE INTO seen (pipeline, path, size, mtime_ns, inode, at) VALUES (?, ?, ?, ?, ?, ?)",
            [(pipeline, f.path, f.size, f.mtime_ns, f.inode, now) for f in files]))

    async def seen(self, pipeline: str) -> list[FileStat]:
        rows = await self.ledger.run(lambda: self.ledger.db.execute(
            "SELECT path, size, mtime_ns, inode FROM seen WHERE pipeline = ? ORDER BY path", (pipeline,)).fetchall())
        return [FileStat(*row) for row in rows]

    async def forget_seen(self, pipeline: str, files: Iterable[FileStat]) -> None:
        await self.ledger.run(lambda: self.ledger.db.executemany(
            "DELETE FROM seen WHERE pipeline = ? AND path = ? AND size = ? AND mtime_ns = ?",
            [(pipeline, f.path, f.size, f.mtime_ns) for f in files]))

    async def record_unrouted(self, pipeline: str, files: Sequence[tuple[FileStat, str]]) -> None:
        now = self.clock()
        await self.ledger.run(lambda: self.ledger.db.executemany(
            "INSERT OR REPLACE INTO unrouted (pipeline, path, size, reason, at) VALUES (?, ?, ?, ?, ?)",
            [(pipeline, file.path, file.size, reason, now) for file, reason in files]))

    async def forget_unrouted(self, pipeline: str, paths: Iterable[str]) -> None:
        await self.ledger.run(lambda: self.ledger.db.executemany(
            "DELETE FROM unrouted WHERE pipeline = ? AND path = ?", [(pipeline, path) for path in paths]))

    async def counts(self) -> dict[str, tuple[int, int]]:
        """pipeline → (unrouted files, files seen at its first start and not uploaded)."""
        def read() -> dict[str, tuple[int, int]]:
            db = self.ledger.db
            unrouted = dict(db.execute("SELECT pipeline, COUNT(*) FROM unrouted GROUP BY pipeline").fetchall())
            seen = dict(db.execute("SELECT pipeline, COUNT(*) FROM seen GROUP BY pipeline").fetchall())
            return {name: (unrouted.get(name, 0), seen.get(name, 0)) for name in {*unrouted, *seen}}

        return await self.ledger.run(read)

    async def unrouted(self, pipelines: Sequence[str], page_size: int, page_token: str) -> UnroutedPage:
        """Unrouted files of `pipelines` (none: of all) by pipeline and path, a page at a time
        (the token: the last one given)."""
        after = decode_token(page_token) if page_token else ("", "")
        among = f"pipeline IN ({','.join('?' * len(pipelines))})" if pipelines else "1"
        where, args = f"(pipeline, path) > (?, ?) AND {among}", [*after, *pipelines]

        def read() -> UnroutedPage:
            db = self.ledger.db
            total = db.execute(f"SELECT COUNT(*) FROM unrouted WHERE {among}", list(pipelines)).fetchone()[0]
            rows = db.execute(f"SELECT pipeline, path, size, reason, at FROM unrouted WHERE {where}"
                              " ORDER BY pipeline, path LIMIT ?", [*args, page_size + 1]).fetchall()
            files = [Unrouted(*row) for row in rows[:page_size]]
            token = encode_token(files[-1]) if len(rows) > page_size else ""
            return UnroutedPage(files, token, total)

        return await self.ledger.run(read)


def encode_token(last: Unrouted) -> str:
    return base64.urlsafe_b64encode(json.dumps([last.pipeline, last.path]).encode()).decode()


def decode_token(token: str) -> tuple[str, str]:
    try:
        pipeline, path = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(pipeline, str) and isinstance(path, str):
            return pipeline, path
    except (ValueError, TypeError):
        pass
    raise InvalidArgument("page_token: not a token this service returned")
