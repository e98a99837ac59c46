"""The audit log: every mutating call (and every refused one) with who, when and what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
