"""Server-side sessions of people signed in with OpenID Connect: in memory, each also kept in
`<state_dir>/dashboard/sessions.sqlite` so a restarted dashboard keeps them. A session expires
after `dashboard.oidc.session_ttl_s`, and ends at sign-out or when an admin revokes it."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from postflow.core.oidc_config import Role
from postflow.core.sqlite import SqliteStore

DDL = ("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, "
       "role TEXT NOT NULL, expires REAL NOT NULL, created REAL NOT NULL, pipelines TEXT)")
COLUMNS = "id, email, name, role, expires, created, pipelines"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: Role
    expires: float  # Unix time
    created: float = 0.0  # Unix time
    pipelines: tuple[str, ...] | None = None  # the only pipelines this person sees; None: all


def handle(session_id: str) -> str:
    """A short name for a session that shows an admin which one it is, and cannot be used as it."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]


class SessionStore(SqliteStore):
    name = "dashboard-sessions"
    ddl = DDL
    private = True  # the file holds the session ids: whoever reads it could use them

    def __init__(self, path: Path, ttl_s: float) -> None:
        super().__init__(path)
        self.ttl_s = ttl_s
        self._sessions: dict[str, Person] = {}

    def prepare(self, db: sqlite3.Connection) -> None:
        super().prepare(db)
        db.execute("DELETE FROM sessions WHERE expires <= ?", (time.time(),))
        self._sessions = {row[0]: Person(row[1], row[2], row[3], row[4], row[5],
                                         None if row[6] is None else tuple(json.loads(row[6])))
                          for row in db.execute(f"SELECT {COLUMNS} FROM sessions")}

    def get(self, session_id: str) -> Person | None:
        person = self._sessions.get(session_id)
        if person is not None and person.expires <= time.time():
            self._sessions.pop(session_id, None)
            return None
        return person

    def active(self) -> list[tuple[str, Person]]:
        """Every session not expired, as (handle, person), the newest first."""
        now = time.time()
        live = [(handle(sid), person) for sid, person in self._sessions.items() if person.expires > now]
        return sorted(live, key=lambda item: item[1].created, reverse=True)

    async def create(self, email: str, name: str, role: Role, pipelines: tuple[str, ...] | None = None) -> str:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        person = Person(email, name, role, now + self.ttl_s, now, pipelines)
        self._sessions[session_id] = person
        await self.run(self._write, f"INSERT INTO sessions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(session_id, email, name, role, person.expires, now,
                         None if pipelines is None else json.dumps(pipelines))])
        return session_id

    async def end(self, session_id: str) -> None:
        await self._end([session_id])

    async def revoke(self, email: str) -> int:
        """Ends every session of `email` (in any case; an admin's revocation); how many there were."""
        ended = [sid for sid, person in self._sessions.items() if person.email.lower() == email.lower()]
        await self._end(ended)
        return len(ended)

    async def _end(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            self._sessions.pop(session_id, None)
        await self.run(self._write, "DELETE FROM sessions WHERE id = ?", [(sid,) for sid in session_ids])

    def _write(self, statement: str, rows: list[tuple]) -> None:
        self.db.executemany(statement, rows)
