"""The audit log: every mutating call (and every refused one) with who, when and what.

Each service keeps its own file, `<state_dir>/audit/<service>.jsonl` (the CLI's local actions:
`cli.jsonl`), one JSON object per line, mode 0600. Past `ROTATE_BYTES` the file becomes
`<service>.jsonl.1` (replacing the previous one) and a new file starts: one file and one older
generation, at most about twice `ROTATE_BYTES` per service. Readers take the newest entries
from the end of the file, then of the older generation."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from postflow.core.config import Config

log = logging.getLogger(__name__)

ROTATE_BYTES = 10 * 1024 * 1024
QUEUE_ENTRIES = 10_000
BATCH_ENTRIES = 1000  # written with one write() call
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CLI_SERVICE = "cli"
_BLOCK_BYTES = 64 * 1024


@dataclass(frozen=True)
class AuditEntry:
    at: float  # Unix time
    who: str  # str(Principal): "watcher", "admin", "key:render-farm", "anonymous"
    action: str  # the RPC's method name ("SubmitFile") or a CLI action ("certs rotate")
    what: str  # its object, without secrets: a path, a job id, a key's name
    outcome: str  # "ok", "denied", "unauthenticated", or "failed: <status>"
    service: str = ""  # where it happened: auth, watcher, streamer, dashboard, cli
    peer: str = ""  # the caller's address


class AuditSink(Protocol):
    def record(self, entry: AuditEntry) -> None:
        """Keeps `entry`; never blocks the event loop."""
        ...


def audit_path(state_dir: Path, service: str) -> Path:
    return state_dir / "audit" / f"{service}.jsonl"


def rotated_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.1")


def describe(entry: AuditEntry) -> str:
    return (f"audit: {entry.service} {entry.action} {entry.what!r} by {entry.who} from {entry.peer or '-'}: "
            f"{entry.outcome}")


class AuditLog:
    """An AuditSink into one service's file. `record` only queues the entry (and logs it at
    INFO); a writer thread appends it. `close` writes everything queued. When `queue_entries`
    wait already (the disk is stuck), the entry is dropped with a WARNING rather than wait."""

    def __init__(self, path: Path, mask: Callable[[str], str] = str, rotate_bytes: int = ROTATE_BYTES,
                 queue_entries: int = QUEUE_ENTRIES) -> None:
        self.path = path
        self._mask = mask  # removes known secret values from what is written
        self._rotate_bytes = rotate_bytes
        self._queue_entries = queue_entries
        # Each writer thread has its own queue (its end marked by None), so that one starting
        # while the previous one still finishes after `close` cannot take the other's entries.
        self._queue: queue.Queue[AuditEntry | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        entry = self._masked(entry)
        log.info("%s", describe(entry))
        with self._lock:
            if self._queue.qsize() >= self._queue_entries:
                log.warning("audit: %d entries wait for %s; this one is not written there: %s",
                            self._queue.qsize(), self.path, describe(entry))
                return
            if self._writer is None:
                self._queue = queue.Queue()
                self._writer = threading.Thread(target=self._write_until_closed, args=(self._queue,),
                                                name=f"audit {self.path.name}", daemon=True)
                self._writer.start()
            self._queue.put_nowait(entry)

    async def read(self, since: float | None = None, limit: int = DEFAULT_LIMIT) -> list[AuditEntry]:
        """The newest `limit` entries at or after `since` (everything recorded so far), oldest first."""
        pending = self._queue

        def written_then_read() -> list[AuditEntry]:
            pending.join()
            return read_entries(self.path, since, limit)

        return await asyncio.to_thread(written_then_read)

    async def close(self) -> None:
        """Writes every entry recorded so far; a later `record` starts a new writer."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                self._queue.put_nowait(None)
        if writer is not None:
            await asyncio.to_thread(writer.join)

    def _write_until_closed(self, pending: queue.Queue[AuditEntry | None]) -> None:
        closing = False
        while not closing:
            batch = [pending.get()]
            while not pending.empty() and len(batch) < BATCH_ENTRIES:
                batch.append(pending.get_nowait())
            entries = [entry for entry in batch if entry is not None]
            closing = len(entries) < len(batch)
            try:
                append_entries(self.path, entries, self._rotate_bytes)
            except Exception:  # the writer outlives a batch it cannot write (each entry is in the log above)
                log.exception("audit: cannot write %d entries to %s", len(entries), self.path)
            finally:
                for _ in batch:
                    pending.task_done()

    def _masked(self, entry: AuditEntry) -> AuditEntry:
        return dataclasses.replace(entry, who=self._mask(entry.who), what=self._mask(entry.what),
                                   outcome=self._mask(entry.outcome))


def append_entries(path: Path, entries: list[AuditEntry], rotate_bytes: int = ROTATE_BYTES) -> None:
    """Appends `entries` to `path` (created with mode 0600), first rotating a file past `rotate_bytes`."""
    if not entries:
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if path.stat().st_size >= rotate_bytes:
            os.replace(path, rotated_path(path))
    except FileNotFoundError:
        pass
    data = "".join(json.dumps(dataclasses.asdict(entry)) + "\n" for entry in entries).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)  # one write: lines of processes appending at once do not interleave
    finally:
        os.close(fd)


def read_entries(path: Path, since: float | None = None, limit: int = DEFAULT_LIMIT) -> list[AuditEntry]:
    """The newest `limit` entries of `path` and its older generation at or after `since`, oldest
    first. Reads from the end, so the cost follows `limit`, not the file's size. A line that is
    not an entry (one cut short by a crash) is skipped with a WARNING."""
    newest_first: list[AuditEntry] = []
    for file in (path, rotated_path(path)):
        for line in lines_from_the_end(file):
            entry = parse_entry(line, file)
            if entry is None:
                continue
            if since is not None and entry.at < since or len(newest_first) >= limit:
                return newest_first[::-1]
            newest_first.append(entry)
    return newest_first[::-1]


def parse_entry(line: bytes, file: Path) -> AuditEntry | None:
    try:
        fields = json.loads(line)
        return AuditEntry(**fields) if isinstance(fields, dict) else None
    except (ValueError, TypeError):
        log.warning("audit: skipped a line of %s that is not an entry (%d bytes)", file, len(line))
        return None


def lines_from_the_end(path: Path) -> Iterator[bytes]:
    """The non-empty lines of `path`, last first; nothing when it does not exist."""
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below, also when the caller stops early)
    except FileNotFoundError:
        return
    with file:
        position = file.seek(0, os.SEEK_END)
        partial = b""
        while position > 0:
            step = min(_BLOCK_BYTES, position)
            position -= step
            file.seek(position)
            first, *complete = (file.read(step) + partial).split(b"\n")
            partial = first
            yield from (line for line in reversed(complete) if line.strip())
        if partial.strip():
            yield partial


def record_cli_action(config: Config, action: str, what: str, outcome: str = "ok") -> AuditEntry:
    """Writes one local CLI action (`certs rotate`, `api-keys create`) into the state dir's
    `audit/cli.jsonl` at once: who is the admin, peer the OS user who ran the command. `what`
    must hold no secret (a key's name, never the key)."""
    entry = AuditEntry(at=time.time(), who="admin", action=action, what=what, outcome=outcome,
                       service=CLI_SERVICE, peer=f"local:{getpass.getuser()}")
    log.info("%s", describe(entry))
    append_entries(audit_path(config.state_path, CLI_SERVICE), [entry])
    return entry
