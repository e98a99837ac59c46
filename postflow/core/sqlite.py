"""One SQLite file on one worker thread: the skeleton every store of PostFlow shares.

The connection is made, used and closed on the store's own thread, so the event loop never
waits on the disk and no two threads share the connection. WAL lets readers of other
processes (the CLI) read while it writes; `synchronous` is FULL where a committed write must
survive a pulled plug. `private` files are made 0600 before SQLite creates its -wal and -shm
files, which copy the mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """What the block writes is committed together, or rolled back when it (or the commit)
    raises; BEGIN IMMEDIATE takes the write lock at once, so another process cannot make the
    block fail halfway. For code on the store's thread (connections in autocommit mode)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class SqliteStore:
    """Subclasses give `name` and `ddl`, and may extend `prepare` (migrations, loading
    what they keep in memory), which runs on the store's thread once the schema is there."""

    name = "store"
    ddl = ""
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    private = False
    rows_by_name = False  # sqlite3.Row instead of tuples

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)

    async def open(self) -> None:
        await self.run(self._connect)

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.private:
            self.path.touch(mode=0o600)
            self.path.chmod(0o600)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.rows_by_name:
            db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        self.prepare(db)
        self._db = db

    def prepare(self, db: sqlite3.Connection) -> None:
        if self.ddl:
            db.executescript(self.ddl)

    async def close(self) -> None:
        if self._db is not None:
            await self.run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    @property
    def db(self) -> sqlite3.Connection:
        """For code running on the store's thread (inside `run`)."""
        assert self._db is not None, f"the {self.name} store is not open"
        return self._db

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the store's one thread (whatever else reads or writes it goes there too)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
