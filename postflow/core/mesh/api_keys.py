"""API keys: how other pipeline tools call the watcher's job API (`authorization: Bearer <key>`
on the API port, mesh.api_listen).

A key is `pfk_` and 32 random bytes (urlsafe base64); its name is not in it. Only the key's
SHA-256 is stored (a salt or a slow hash would add nothing for 256 random bits), in SQLite at
`<state_dir>/watcher/api_keys.sqlite`, with its name, scopes and dates; revoked keys stay
listed. Every key's hash is also held in memory, so checking a key reads no file, and
creating or revoking one changes that index as soon as the change is stored: a revoked key
is refused from the next call on. A peer address that sent too many bad keys of late is
refused at once, before any lookup, so a flood of them costs authenticated callers nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from postflow.core.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted, Unauthenticated
from postflow.core.mesh.identity import Kind, Principal, Scope
from postflow.core.mesh.peer_limit import FailureLimit, peer_host
from postflow.core.sqlite import SqliteStore

log = logging.getLogger(__name__)

PREFIX = "pfk_"
KEY_BYTES = 32
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
VALID_SCOPES = ", ".join(scope.value for scope in Scope)
BAD_KEYS_PER_MINUTE = 20
LAST_USED_RESOLUTION_S = 60.0  # last_used_at is stored at most this often per key

DDL = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    key_sha256 TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL,
    revoked_at REAL
);
"""


@dataclass(frozen=True)
class ApiKey:
    """A key's record: everything but the key (and its hash, which never leaves the store)."""

    name: str
    scopes: frozenset[Scope]
    created_at: float
    last_used_at: float | None = None
    revoked_at: float | None = None

    @property
    def principal(self) -> Principal:
        return Principal(Kind.API_KEY, self.name, self.scopes)


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(KEY_BYTES)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def well_formed(key: str) -> bool:
    body = key.removeprefix(PREFIX)
    if body == key:
        return False
    try:
        return len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == KEY_BYTES
    except (binascii.Error, ValueError):
        return False


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidArgument(f"name {name!r}: use 1 to 64 letters, digits, '-', '_' or '.'")
    return name


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    wanted = list(values)
    if not wanted:
        raise InvalidArgument(f"scopes: give at least one of {VALID_SCOPES}")
    unknown = [value for value in wanted if value not in Scope._value2member_map_]
    if unknown:
        raise InvalidArgument(f"unknown scope {', '.join(map(repr, unknown))}: valid scopes are {VALID_SCOPES}")
    return frozenset(Scope(value) for value in wanted)


class ApiKeys(SqliteStore):
    """The key store and the Authenticator (postflow.core.mesh.identity) of the API port.
    SQLite runs on one worker thread; the index is read and changed on the event loop."""

    name = "api-keys"
    ddl = DDL
    synchronous = "FULL"  # a revocation, once answered, must survive a crash
    private = True

    def __init__(self, path: Path, *, limit: FailureLimit | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(path)
        self.limit = limit or FailureLimit(BAD_KEYS_PER_MINUTE)
        self.clock = clock
        self._records: dict[str, ApiKey] = {}  # name → record; revoked keys too, so their callers are told
        self._names: dict[str, str] = {}  # key hash → name
        self._last_used: dict[str, float] = {}  # name → last use not yet stored
        self._revocations: dict[str, asyncio.Event] = {}

    # -- plumbing ---------------------------------------------------------------------------

    async def open(self) -> None:
        await super().open()
        rows = await self.run(lambda: [(row[0], _record(row[1:])) for row in self.db.execute(
            f"SELECT key_sha256, {_COLUMNS} FROM api_keys")])
        self._names = {digest: record.name for digest, record in rows}
        self._records = {record.name: record for _, record in rows}
        log.info("%d API keys (%d revoked)", len(self._records),
                 sum(record.revoked_at is not None for record in self._records.values()))

    async def close(self) -> None:
        if self._db is not None:
            await self._store_last_used()
        await super().close()

    # -- managing keys ----------------------------------------------------------------------

    async def create(self, name: str, scopes: Iterable[str]) -> tuple[str, ApiKey]:
        """A new key (shown to the caller this once) and its record."""
        record = ApiKey(check_name(name), parse_scopes(scopes), self.clock())
        key = new_key()
        digest = key_hash(key)
        await self.run(self._insert, digest, record)
        self._names[digest] = name
        self._records[name] = record
        log.info("API key %s created with scopes %s", name, _scope_text(record.scopes))
        return key, record

    def _insert(self, digest: str, record: ApiKey) -> None:
        existing = self.db.execute("SELECT revoked_at FROM api_keys WHERE name = ?", (record.name,)).fetchone()
        if existing is not None:
            revoked = " (revoked; names are not reused)" if existing[0] is not None else ""
            raise AlreadyExists(f"an API key named {record.name!r} already exists{revoked}")
        self.db.execute("INSERT INTO api_keys (name, key_sha256, scopes, created_at) VALUES (?, ?, ?, ?)",
                        (record.name, digest, _scope_text(record.scopes), record.created_at))

    async def list(self) -> list[ApiKey]:
        """Every key's record, oldest first, revoked ones too."""
        await self._store_last_used()
        return sorted(self._records.values(), key=lambda record: (record.created_at, record.name))

    async def revoke(self, name: str) -> ApiKey:
        """Revokes the key: refused from now on, its open streams ended (see `revocation`)."""
        revoked_at = self.clock()
        if not await self.run(self._revoke, name, revoked_at):
            raise NotFound(f"no API key named {name!r}")
        record = self._records[name]
        if record.revoked_at is None:
            self._records[name] = record = replace(record, revoked_at=revoked_at)
        if (event := self._revocations.pop(name, None)) is not None:
            event.set()
        log.info("API key %s revoked", name)
        return record

    def _revoke(self, name: str, revoked_at: float) -> bool:
        found = self.db.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE name = ?",
                                (revoked_at, name))
        return found.rowcount > 0

    def revocation(self, principal: Principal) -> asyncio.Event:
        """Set once the key `principal` authenticated with is revoked: a server stream of an
        API-key caller ends then, rather than outliving its key."""
        return self._revocations.setdefault(principal.name, asyncio.Event())

    async def _store_last_used(self) -> None:
        if self._last_used:
            uses, self._last_used = self._last_used, {}
            await self.run(self._write_last_used, uses)

    def _write_last_used(self, uses: dict[str, float]) -> None:
        self.db.executemany("UPDATE api_keys SET last_used_at = ? WHERE name = ?",
                            [(at, name) for name, at in uses.items()])

    # -- the Authenticator ------------------------------------------------------------------

    async def authenticate(self, bearer: str, peer: str) -> Principal:
        host = peer_host(peer)
        if self.limit.exceeded(host):
            raise ResourceExhausted("too many bad API keys from this address; try again in a minute")
        # A dictionary lookup by the key's SHA-256: timing can tell at most how much of a
        # hash matched, which brings nobody closer to a key that has it.
        name = self._names.get(key_hash(bearer)) if well_formed(bearer) else None
        record = self._records.get(name) if name is not None else None
        if record is None or record.revoked_at is not None:
            self.limit.failed(host)
            raise Unauthenticated(_refusal(bearer, record))
        self._used(record)
        return record.principal

    def _used(self, record: ApiKey) -> None:
        now = self.clock()
        if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION_S:
            self._records[record.name] = replace(record, last_used_at=now)
            self._last_used[record.name] = now


def _refusal(bearer: str, record: ApiKey | None) -> str:
    if not bearer:
        return "no API key: send the metadata `authorization: Bearer <key>`"
    if not well_formed(bearer):
        return f"malformed API key: expected {PREFIX} and {KEY_BYTES} bytes in urlsafe base64"
    if record is None:
        return "unknown API key"
    return f"API key {record.name!r} has been revoked"


_COLUMNS = "name, scopes, created_at, last_used_at, revoked_at"


def _record(row: tuple) -> ApiKey:
    name, scopes, created_at, last_used_at, revoked_at = row
    return ApiKey(name, frozenset(Scope(scope) for scope in scopes.split()), created_at, last_used_at, revoked_at)


def _scope_text(scopes: frozenset[Scope]) -> str:
    return " ".join(sorted(scopes))
