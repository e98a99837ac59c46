"""`<state_dir>/watcher/frameio_hooks.sqlite` (0600): PostFlow's webhooks on Frame.io, one per
workspace of a connection, each with the secret Frame.io showed once; and the inbox of the
deliveries accepted, each kept until it was acted on (a day longer, then pruned). A delivery's
dedup key is unique: the same delivery twice is stored once."""

from __future__ import annotations

from dataclasses import dataclass

from postflow.core.sqlite import SqliteStore

DDL = """
CREATE TABLE IF NOT EXISTS registrations (
    hook TEXT PRIMARY KEY,            -- the key in the URL Frame.io posts to: /hooks/frameio/<hook>
    connection TEXT NOT NULL,
    account_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    workspace_name TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,             -- comma-separated
    secret TEXT NOT NULL,
    follows_tunnel INTEGER NOT NULL,  -- its URL is the tunnel's, changed when the tunnel's changes
    created_at REAL NOT NULL,
    UNIQUE (connection, account_id, workspace_id)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    event TEXT NOT NULL,              -- the FrameioEvent, as JSON
    done INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,  -- after a failed attempt: not before then
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (done, id);
"""
REGISTRATION_COLUMNS = ("hook, connection, account_id, workspace_id, workspace_name, webhook_id, url, events, secret, "
                        "follows_tunnel, created_at")


@dataclass(frozen=True)
class Registration:
    hook: str
    connection: str
    account_id: str
    workspace_id: str
    workspace_name: str
    webhook_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    follows_tunnel: bool
    created_at: float

    @classmethod
    def from_row(cls, row: tuple) -> Registration:
        hook, connection, account_id, workspace_id, workspace_name, webhook_id, url, events, secret, follows, \
            created_at = row
        return cls(hook, connection, account_id, workspace_id, workspace_name, webhook_id, url,
                   tuple(events.split(",")) if events else (), secret, bool(follows), created_at)


@dataclass(frozen=True)
class InboxRow:
    id: int
    event: str  # JSON
    attempts: int


class HooksStore(SqliteStore):
    name = "frameio-hooks"
    ddl = DDL
    private = True  # the webhooks' secrets

    async def registration(self, hook: str) -> Registration | None:
        return await self.run(self._one, "hook = ?", (hook,))

    async def registration_for(self, connection: str, account_id: str, workspace_id: str) -> Registration | None:
        return await self.run(self._one, "connection = ? AND account_id = ? AND workspace_id = ?",
                              (connection, account_id, workspace_id))

    def _one(self, where: str, args: tuple) -> Registration | None:
        row = self.db.execute(f"SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE {where}", args).fetchone()
        return Registration.from_row(row) if row else None

    async def registrations(self) -> list[Registration]:
        def read() -> list[Registration]:
            rows = self.db.execute(f"SELECT {REGISTRATION_COLUMNS} FROM registrations ORDER BY created_at")
            return [Registration.from_row(row) for row in rows]
        return await self.run(read)

    async def register(self, registration: Registration) -> None:
        """Stores a new webhook, replacing the one of the same workspace (gone from Frame.io)."""
        def write() -> None:
            with self.db:
                self.db.execute("DELETE FROM registrations WHERE connection = ? AND account_id = ? AND "
                                "workspace_id = ?", (registration.connection, registration.account_id,
                                                     registration.workspace_id))
                self.db.execute(f"INSERT INTO registrations ({REGISTRATION_COLUMNS}) VALUES "
                                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (registration.hook, registration.connection, registration.account_id,
                                 registration.workspace_id, registration.workspace_name, registration.webhook_id,
                                 registration.url, ",".join(registration.events), registration.secret,
                                 int(registration.follows_tunnel), registration.created_at))
        await self.run(write)

    async def changed(self, hook: str, url: str, events: tuple[str, ...], follows_tunnel: bool) -> None:
        await self.run(lambda: self.db.execute(
            "UPDATE registrations SET url = ?, events = ?, follows_tunnel = ? WHERE hook = ?",
            (url, ",".join(events), int(follows_tunnel), hook)))

    async def accept(self, dedup_key: str, event_json: str, received_at: float) -> bool:
        """Stores a delivery (durably, once this returns); False when it was stored before."""
        def write() -> bool:
            cursor = self.db.execute("INSERT OR IGNORE INTO inbox (dedup_key, received_at, event) VALUES (?, ?, ?)",
                                     (dedup_key, received_at, event_json))
            return cursor.rowcount == 1
        return await self.run(write)

    async def due(self, now: float, limit: int = 100) -> list[InboxRow]:
        """Deliveries not acted on yet and due now, oldest first."""
        def read() -> list[InboxRow]:
            rows = self.db.execute("SELECT id, event, attempts FROM inbox WHERE done = 0 AND next_at <= ? "
                                   "ORDER BY id LIMIT ?", (now, limit))
            return [InboxRow(*row) for row in rows]
        return await self.run(read)

    async def next_due(self) -> float | None:
        """When the next delivery not acted on is due (None: there is none)."""
        return await self.run(lambda: self.db.execute("SELECT min(next_at) FROM inbox WHERE done = 0").fetchone()[0])

    async def done(self, row_id: int) -> None:
        await self.run(lambda: self.db.execute("UPDATE inbox SET done = 1 WHERE id = ?", (row_id,)))

    async def failed(self, row_id: int, error: str, next_at: float) -> None:
        await self.run(lambda: self.db.execute(
            "UPDATE inbox SET attempts = attempts + 1, last_error = ?, next_at = ? WHERE id = ?",
            (error, next_at, row_id)))

    async def prune(self, before: float) -> int:
        """Forgets deliveries acted on and received before `before`; how many."""
        def delete() -> int:
            return self.db.execute("DELETE FROM inbox WHERE done = 1 AND received_at < ?", (before,)).rowcount
        return await self.run(delete)

    async def pending(self) -> int:
        """Deliveries not acted on yet."""
        return await self.run(lambda: self.db.execute("SELECT count(*) FROM inbox WHERE done = 0").fetchone()[0])
