"""Server-side sessions of people signed in with OpenID Connect: in memory, each also kept in
`<state_dir>/dashboard/sessions.sqlite` so a restarted dashboard keeps them. A session expires
after `dashboard.oidc.session_ttl_s`, and ends at sign-out or when an admin revokes it."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from postflow.core.oidc_config import Role

SCHEMA = ("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, "
          "role TEXT NOT NULL, expires REAL NOT NULL)")


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: Role
    expires: float  # Unix time


class SessionStore:
    def __init__(self, path: Path, ttl_s: float) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self._sessions: dict[str, Person] = {}

    async def open(self) -> SessionStore:
        self._sessions = await asyncio.to_thread(self._load)
        return self

    def get(self, session_id: str) -> Person | None:
        person = self._sessions.get(session_id)
        if person is not None and person.expires <= time.time():
            self._sessions.pop(session_id, None)
            return None
        return person

    async def create(self, email: str, name: str, role: Role) -> str:
        session_id = secrets.token_urlsafe(32)
        person = Person(email, name, role, time.time() + self.ttl_s)
        self._sessions[session_id] = person
        await asyncio.to_thread(self._write, "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                                (session_id, email, name, role, person.expires))
        return session_id

    async def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        await asyncio.to_thread(self._write, "DELETE FROM sessions WHERE id = ?", (session_id,))

    async def revoke(self, email: str) -> int:
        """Ends every session of `email` (an admin's revocation); how many there were."""
        ended = [sid for sid, person in self._sessions.items() if person.email == email]
        for session_id in ended:
            await self.end(session_id)
        return len(ended)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(self.path)
        connection.execute(SCHEMA)
        return connection

    def _load(self) -> dict[str, Person]:
        with closing(self._connect()) as connection, connection:
            connection.execute("DELETE FROM sessions WHERE expires <= ?", (time.time(),))
            rows = connection.execute("SELECT id, email, name, role, expires FROM sessions").fetchall()
        return {row[0]: Person(row[1], row[2], row[3], row[4]) for row in rows}

    def _write(self, statement: str, values: tuple) -> None:
        with closing(self._connect()) as connection, connection:
            connection.execute(statement, values)
