"""Publications (tickets): a file under a pipeline's root made reachable at an unguessable,
expiring URL. Only the sha256 of each URL token is stored (SQLite, WAL), so a copy of the
database never yields a working URL; publications survive a restart.

A file's identity is its path, size and mtime (ns): network file systems (a FUSE file
system that does not keep inode numbers, SMB with `noserverino`) give an unchanged file a
new inode number once the kernel forgot it, so the inode number is no part of it.

A publication keeps its pipeline, and serves only while the streamer serves that pipeline
from a root that still holds the file: a pipeline removed or moved by a config reload
withdraws its publications."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import secrets
import sqlite3
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import context as otel_context

from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from postflow.core.files import readable_stat
from postflow.core.pipelines import DEFAULT
from postflow.core.telemetry import context_from
from postflow.v1 import common_pb2
from services.streamer.response_plan import Representation, describe
from services.streamer.roots import Roots

PURGE_AFTER_S = 7 * 86400  # expired or revoked rows are forgotten after this

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publications (
    ticket_id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    pipeline TEXT NOT NULL,
    path TEXT NOT NULL,
    real_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    traceparent TEXT NOT NULL,
    tracestate TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL
)
"""
_COLUMNS = ("ticket_id", "token_sha256", "pipeline", "path", "real_path", "size", "mtime_ns", "inode", "job_id",
            "traceparent", "tracestate", "created_at", "expires_at", "revoked_at")


class PublicationChanged(Exception):
    """The published file is no longer the one that was published."""


@dataclass
class Publication:
    ticket_id: str
    token_sha256: str
    pipeline: str
    path: str  # relative to the pipeline's root, as published
    real_path: str  # absolute, symlinks resolved at publish time
    size: int
    mtime_ns: int
    inode: int  # at publish time, for the ETag only (see the module's docstring)
    job_id: str
    traceparent: str
    tracestate: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None

    @functools.cached_property
    def name(self) -> str:
        return Path(self.path).name

    @functools.cached_property
    def trace_context(self) -> common_pb2.TraceContext:
        return common_pb2.TraceContext(traceparent=self.traceparent, tracestate=self.tracestate)

    @functools.cached_property
    def representation(self) -> Representation:
        return describe(self.name, self.size, self.mtime_ns, self.inode)

    @functools.cached_property
    def parent_context(self) -> otel_context.Context:
        """The OTel context of the upload that published this, parent of each request's span."""
        return context_from(self.trace_context)

    def gone(self) -> str | None:
        """Why the publication no longer serves ("revoked", "expired"), or None."""
        if self.revoked_at is not None:
            return "revoked"
        if time.time() >= self.expires_at:
            return "expired"
        return None

    def matches(self, st: os.stat_result) -> bool:
        return (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def resolve_in_root(root: Path, relative: str) -> Path:
    """The real path of `relative` under `root`; refuses anything that leaves the root,
    through `..`, an absolute path or a symlink."""
    if not relative or "\x00" in relative:
        raise InvalidArgument("path: required")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise InvalidArgument("path: must be relative to the pipeline's root")
    try:
        real = (root / candidate).resolve()
    except (OSError, RuntimeError) as exc:
        raise InvalidArgument(f"{relative}: cannot resolve ({exc})") from None
    if not real.is_relative_to(root):  # checked first: nothing is said about what lies outside
        raise InvalidArgument(f"{relative}: outside the pipeline's root")
    if not real.exists():
        raise NotFound(f"{relative}: no such file")
    return real


def stat_for_publication(real: Path, relative: str) -> os.stat_result:
    """A file the streamer may not read is refused now, not when Frame.io comes for it."""
    try:
        return readable_stat(real)
    except PermissionError as exc:
        raise PermissionDenied(f"{relative}: cannot read the file ({exc.strerror})") from None
    except OSError as exc:
        raise FailedPrecondition(f"{relative}: cannot open the file ({exc.strerror})") from None


def examine(root: Path, relative: str) -> tuple[Path, os.stat_result]:
    """The real path and stat of the regular file `relative` under `root` (blocking)."""
    real = resolve_in_root(root, relative)
    st = stat_for_publication(real, relative)
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgument(f"{relative}: not a regular file")
    return real, st


def open_source(publication: Publication) -> int:
    """Opens the published file for serving (blocking: call it on a thread); raises
    PublicationChanged unless it is still a regular file of the published size and mtime, at
    the published path: a path made to lead elsewhere (a directory swapped for a symlink)
    is caught by asking the kernel where the opened file is."""
    try:
        fd = os.open(publication.real_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        raise PublicationChanged(f"cannot open: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not publication.matches(st):
            raise PublicationChanged("size or mtime changed since it was published")
        if os.readlink(f"/proc/self/fd/{fd}") != publication.real_path:
            raise PublicationChanged("its path leads elsewhere now")
    except BaseException:
        os.close(fd)
        raise
    return fd


class PublicationStore:
    """Publications in SQLite with an in-memory index by token digest for the hot path."""

    def __init__(self, db_path: Path, roots: Roots, default_ttl_s: int) -> None:
        self.roots = roots
        self.default_ttl_s = default_ttl_s
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(db_path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        if "pipeline" not in {row[1] for row in self._db.execute("PRAGMA table_info(publications)")}:
            # a database from before pipelines, when the one watch root was the pipeline `default`
            self._db.execute(f"ALTER TABLE publications ADD COLUMN pipeline TEXT NOT NULL DEFAULT '{DEFAULT}'")
        rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM publications").fetchall()
        self._by_ticket = {row[0]: Publication(*row) for row in rows}
        self._by_token = {p.token_sha256: p for p in self._by_ticket.values()}
        # URL tokens issued by this process, kept in memory only (so GetPublication can
        # give the URL under a new tunnel base); after a restart only digests remain.
        self._tokens: dict[str, str] = {}
        self.purge()

    def purge(self, now: float | None = None) -> list[str]:
        """Forgets, in the database and in memory, publications that expired or were revoked
        more than PURGE_AFTER_S ago; returns their ticket ids."""
        horizon = (time.time() if now is None else now) - PURGE_AFTER_S
        old = [p for p in self._by_ticket.values()
               if p.expires_at < horizon or (p.revoked_at is not None and p.revoked_at < horizon)]
        self._db.executemany("DELETE FROM publications WHERE ticket_id = ?", [(p.ticket_id,) for p in old])
        for publication in old:
            del self._by_ticket[publication.ticket_id], self._by_token[publication.token_sha256]
            self._tokens.pop(publication.ticket_id, None)
        return [p.ticket_id for p in old]

    def close(self) -> None:
        self._db.close()

    async def publish(self, pipeline: str, relative: str, size: int, mtime_ns: int, ttl_s: int, job_id: str,
                      trace_context: common_pb2.TraceContext) -> tuple[Publication, str]:
        """Checks the file under the root of `pipeline` ("" for the only one; on a thread: the
        root may be slow storage) and records the publication; returns it with its URL token."""
        if ttl_s < 0:
            raise InvalidArgument("ttl_s: must not be negative")
        pipeline, root = self.roots.named(pipeline)
        real, st = await asyncio.to_thread(examine, root, relative)
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
            raise FailedPrecondition(
                f"{relative}: changed since it was seen (size {st.st_size}, mtime_ns {st.st_mtime_ns}; "
                f"expected {size}, {mtime_ns})"
            )
        token = secrets.token_urlsafe(24)
        now = time.time()
        publication = Publication(
            ticket_id=uuid.uuid4().hex, token_sha256=token_digest(token), pipeline=pipeline, path=relative,
            real_path=str(real),
            size=size, mtime_ns=mtime_ns, inode=st.st_ino, job_id=job_id, traceparent=trace_context.traceparent,
            tracestate=trace_context.tracestate, created_at=now, expires_at=now + (ttl_s or self.default_ttl_s),
        )
        values = tuple(getattr(publication, c) for c in _COLUMNS)
        self._db.execute(f"INSERT INTO publications ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                         values)
        self._by_ticket[publication.ticket_id] = publication
        self._by_token[publication.token_sha256] = publication
        self._tokens[publication.ticket_id] = token
        return publication, token

    def revoke(self, ticket_id: str) -> Publication:
        publication = self.get(ticket_id)
        if publication.revoked_at is None:
            publication.revoked_at = time.time()
            self._db.execute("UPDATE publications SET revoked_at = ? WHERE ticket_id = ?",
                             (publication.revoked_at, ticket_id))
        return publication

    def get(self, ticket_id: str) -> Publication:
        publication = self._by_ticket.get(ticket_id)
        if publication is None:
            raise NotFound(f"no publication {ticket_id!r}")
        return publication

    def token(self, ticket_id: str) -> str | None:
        return self._tokens.get(ticket_id)

    def by_token(self, token: str) -> Publication | None:
        return self._by_token.get(token_digest(token))

    def ended(self, publication: Publication) -> str | None:
        """Why the publication no longer serves ("revoked", "expired", "withdrawn": its
        pipeline was removed, or its root moved away from the file), or None."""
        if gone := publication.gone():
            return gone
        root = self.roots.get(publication.pipeline)
        if root is None or not Path(publication.real_path).is_relative_to(root):
            return "withdrawn"
        return None
