"""What the watcher knows of the review of the files it delivered (`<state_dir>/watcher/review.sqlite`):
the files it follows, the comments seen on them, and the comments it carried forward.

`files`: a followed Frame.io file, its job, where it lives (account, connection, pipeline),
its review status, when its last sync began (`synced_at`), its media timing (a MediaTiming, once known),
whether carrying comments onto it is still due, and whether its first sync is a `baseline`
(a file delivered before this store existed: what it already has is not news).

`comments`: each comment seen, whether it was announced as created and as completed, and,
when PostFlow made it by carrying another forward, the comment it came from.

`carried`: one row per comment carried onto a file, written before the comment is posted
(`comment_id` "" until Frame.io answered), so a crash in between never posts it twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from postflow.core.sqlite import SqliteStore, transaction
from postflow.v1 import watcher_pb2

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, account_id TEXT NOT NULL, connection TEXT NOT NULL,
    pipeline TEXT NOT NULL, review_status TEXT NOT NULL DEFAULT '', synced_at REAL NOT NULL DEFAULT 0,
    timing BLOB NOT NULL DEFAULT x'', carry_due INTEGER NOT NULL DEFAULT 0, baseline INTEGER NOT NULL DEFAULT 0,
    project_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS comments (
    id TEXT PRIMARY KEY, file_id TEXT NOT NULL, text TEXT NOT NULL, frame INTEGER NOT NULL,
    duration INTEGER NOT NULL, author TEXT NOT NULL, author_email TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, completed_at REAL NOT NULL DEFAULT 0, deleted_at REAL NOT NULL DEFAULT 0,
    carried_from TEXT NOT NULL DEFAULT '', created_told INTEGER NOT NULL DEFAULT 0,
    completed_told INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS comments_by_file ON comments (file_id, created_at);
CREATE TABLE IF NOT EXISTS carried (
    source_id TEXT NOT NULL, target_file_id TEXT NOT NULL, comment_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (source_id, target_file_id)
);
CREATE INDEX IF NOT EXISTS carried_by_target ON carried (target_file_id);
CREATE INDEX IF NOT EXISTS files_by_account ON files (account_id);
CREATE INDEX IF NOT EXISTS files_by_project ON files (project_id);
"""
CREATED_AT = "created_at"  # the meta key: when this store was made


@dataclass(frozen=True)
class FollowedFile:
    file_id: str
    job_id: str
    account_id: str
    connection: str
    pipeline: str
    review_status: str = ""
    synced_at: float = 0.0
    timing: watcher_pb2.MediaTiming | None = None
    carry_due: bool = False
    baseline: bool = False
    project_id: str = ""


@dataclass(frozen=True)
class StoredComment:
    id: str
    file_id: str
    text: str
    frame: int  # -1: none
    duration: int
    author: str
    author_email: str
    created_at: float
    updated_at: float
    completed_at: float = 0.0  # 0: not completed
    deleted_at: float = 0.0
    carried_from: str = ""  # the comment PostFlow carried this one forward from ("": a person's)
    created_told: bool = False
    completed_told: bool = False

    def same_content(self, other: StoredComment) -> bool:
        return (self.text, self.frame, self.duration, self.updated_at, bool(self.completed_at), self.deleted_at) == (
            other.text, other.frame, other.duration, other.updated_at, bool(other.completed_at), other.deleted_at)


COMMENT_COLUMNS = ", ".join(StoredComment.__dataclass_fields__)
FILE_COLUMNS = ", ".join(FollowedFile.__dataclass_fields__)


def _file(row: sqlite3.Row) -> FollowedFile:
    timing = None
    if row["timing"]:
        timing = watcher_pb2.MediaTiming.FromString(row["timing"])
    return FollowedFile(row["file_id"], row["job_id"], row["account_id"], row["connection"], row["pipeline"],
                        row["review_status"], row["synced_at"], timing, bool(row["carry_due"]),
                        bool(row["baseline"]), row["project_id"])


def _comment(row: sqlite3.Row) -> StoredComment:
    values = dict(zip(row.keys(), row, strict=True))
    values["created_told"], values["completed_told"] = bool(row["created_told"]), bool(row["completed_told"])
    return StoredComment(**values)


class ReviewStore(SqliteStore):
    name = "review"
    ddl = DDL
    rows_by_name = True

    def prepare(self, db: sqlite3.Connection) -> None:
        super().prepare(db)
        db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (CREATED_AT, repr(time.time())))
        self.created_at = float(db.execute("SELECT value FROM meta WHERE key = ?", (CREATED_AT,)).fetchone()[0])

    # -- files ------------------------------------------------------------------------------

    async def file(self, file_id: str) -> FollowedFile | None:
        row = await self.run(lambda: self.db.execute("SELECT * FROM files WHERE file_id = ?", (file_id,)).fetchone())
        return None if row is None else _file(row)

    async def follow(self, file: FollowedFile) -> FollowedFile:
        """Starts following `file` (a file followed already stays as it is); the file as stored."""
        def work() -> sqlite3.Row:
            self.db.execute("INSERT OR IGNORE INTO files (file_id, job_id, account_id, connection, pipeline, "
                            "carry_due, baseline, project_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (file.file_id, file.job_id, file.account_id, file.connection, file.pipeline,
                             file.carry_due, file.baseline, file.project_id))
            return self.db.execute("SELECT * FROM files WHERE file_id = ?", (file.file_id,)).fetchone()
        return _file(await self.run(work))

    async def followed_ids(self) -> set[str]:
        rows = await self.run(lambda: self.db.execute("SELECT file_id FROM files").fetchall())
        return {row[0] for row in rows}

    async def connection_of(self, account_id: str, project_id: str) -> str | None:
        """The connection of a followed file in that project (in that account when the project is
        not known); None: PostFlow follows none there."""
        where, value = ("project_id", project_id) if project_id else ("account_id", account_id)
        row = await self.run(lambda: self.db.execute(
            f"SELECT connection FROM files WHERE {where} = ? LIMIT 1", (value,)).fetchone())
        return None if row is None else row[0]

    async def carried_over(self, file_id: str) -> None:
        await self.run(lambda: self.db.execute("UPDATE files SET carry_due = 0 WHERE file_id = ?", (file_id,)))

    async def save_timing(self, file_id: str, timing: watcher_pb2.MediaTiming) -> None:
        await self.run(lambda: self.db.execute("UPDATE files SET timing = ? WHERE file_id = ?",
                                               (timing.SerializeToString(), file_id)))

    async def synced(self, file_id: str, review_status: str, at: float) -> None:
        """Records a sync; the first one ends the file's baseline."""
        await self.run(lambda: self.db.execute(
            "UPDATE files SET review_status = ?, synced_at = ?, baseline = 0 WHERE file_id = ?",
            (review_status, at, file_id)))

    # -- comments ---------------------------------------------------------------------------

    async def comments(self, file_id: str, *, deleted: bool = False) -> list[StoredComment]:
        """The file's comments, oldest first (with those deleted on Frame.io when `deleted`)."""
        where = "" if deleted else " AND deleted_at = 0"
        rows = await self.run(lambda: self.db.execute(
            f"SELECT {COMMENT_COLUMNS} FROM comments WHERE file_id = ?{where} ORDER BY created_at, id",
            (file_id,)).fetchall())
        return [_comment(row) for row in rows]

    async def file_of_comment(self, comment_id: str) -> str | None:
        row = await self.run(lambda: self.db.execute("SELECT file_id FROM comments WHERE id = ?",
                                                     (comment_id,)).fetchone())
        return None if row is None else row[0]

    async def save_comments(self, comments: Iterable[StoredComment]) -> None:
        rows = [tuple(getattr(comment, key) for key in StoredComment.__dataclass_fields__) for comment in comments]
        marks = ", ".join("?" * len(StoredComment.__dataclass_fields__))

        def work() -> None:
            with transaction(self.db) as db:
                db.executemany(f"INSERT OR REPLACE INTO comments ({COMMENT_COLUMNS}) VALUES ({marks})", rows)
        if rows:
            await self.run(work)

    # -- carried ----------------------------------------------------------------------------

    async def carried_into(self, target_file_id: str) -> dict[str, str]:
        """The comments carried onto the file: source comment id → new comment id ("" = not known yet)."""
        rows = await self.run(lambda: self.db.execute(
            "SELECT source_id, comment_id FROM carried WHERE target_file_id = ?", (target_file_id,)).fetchall())
        return {row[0]: row[1] for row in rows}

    async def intend_carry(self, source_id: str, target_file_id: str) -> None:
        await self.run(lambda: self.db.execute("INSERT OR IGNORE INTO carried VALUES (?, ?, '')",
                                               (source_id, target_file_id)))

    async def carried_as(self, source_id: str, target_file_id: str, comment_id: str) -> None:
        await self.run(lambda: self.db.execute(
            "UPDATE carried SET comment_id = ? WHERE source_id = ? AND target_file_id = ?",
            (comment_id, source_id, target_file_id)))
