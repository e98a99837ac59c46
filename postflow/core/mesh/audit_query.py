"""Reading the audit log: each service's `AuditService.ListAudit` (served by every GrpcServer),
and the merge of every service's entries with the CLI's local ones that `postflow audit` and
the dashboard show."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc

from postflow.core.config import Config
from postflow.core.dates import iso_seconds
from postflow.core.errors import InvalidArgument, PostflowError, from_rpc_error
from postflow.core.mesh import audit
from postflow.core.mesh.audit import AuditEntry, AuditLog
from postflow.core.protos import timestamp, to_seconds
from postflow.v1 import audit_pb2, audit_pb2_grpc

# Kept by processes without a gRPC server of their own, read from the state directory: the CLI's
# local actions and the dashboard's sign-ins (its people's job actions are in the watcher's lines).
LOCAL_FILES = (audit.CLI_SERVICE, "dashboard")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def to_proto(entry: AuditEntry) -> audit_pb2.AuditEntry:
    return audit_pb2.AuditEntry(at=timestamp(entry.at), who=entry.who, action=entry.action, what=entry.what,
                                outcome=entry.outcome, service=entry.service, peer=entry.peer)


def from_proto(message: audit_pb2.AuditEntry) -> AuditEntry:
    return AuditEntry(at=to_seconds(message.at), who=message.who, action=message.action, what=message.what,
                      outcome=message.outcome, service=message.service, peer=message.peer)


def entry_view(entry: AuditEntry) -> dict:
    """An entry as JSON-ready data: its moment in ISO 8601 (UTC)."""
    return {"at": datetime.fromtimestamp(entry.at, UTC).isoformat(), "service": entry.service, "who": entry.who,
            "action": entry.action, "what": entry.what, "outcome": entry.outcome, "peer": entry.peer}


def check_limit(limit: int) -> int:
    """`limit` entries wanted (0: the default); InvalidArgument outside 0..MAX_LIMIT."""
    if not 0 <= limit <= audit.MAX_LIMIT:
        raise InvalidArgument(f"limit: expected a whole number from 1 to {audit.MAX_LIMIT}, got {limit}")
    return limit or audit.DEFAULT_LIMIT


def parse_since(text: str, now: float | None = None) -> float:
    """`--since`: a duration back from now (`90s`, `15m`, `2h`, `7d`) or an ISO 8601 moment
    (UTC when it names no offset), as epoch seconds."""
    if match := _DURATION.fullmatch(text.strip()):
        return (time.time() if now is None else now) - float(match[1]) * _UNIT_S[match[2]]
    moment = iso_seconds(text)
    if moment is None:
        raise InvalidArgument(f"since: expected a duration such as 30m, 2h or 7d, or an ISO 8601 time; got {text!r}")
    return moment


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """A service's own audit log over gRPC."""

    def __init__(self, log: AuditLog | None) -> None:
        self.log = log  # None: a server that keeps no log (test fakes) answers none

    async def ListAudit(self, request: audit_pb2.ListAuditRequest, context) -> audit_pb2.ListAuditResponse:
        limit = check_limit(request.limit)
        if self.log is None:
            return audit_pb2.ListAuditResponse()
        since = to_seconds(request.since) if request.HasField("since") else None
        entries = await self.log.read(since, limit)
        return audit_pb2.ListAuditResponse(entries=[to_proto(entry) for entry in entries])


@dataclass
class Merged:
    entries: list[AuditEntry]  # oldest first
    unavailable: dict[str, str]  # service → why its entries are missing


async def merged_audit(config: Config, stubs: Mapping[str, audit_pb2_grpc.AuditServiceStub],
                       since: float | None, limit: int, timeout: float) -> Merged:
    """The newest `limit` entries of every service in `stubs` and of the local files, oldest
    first. A service that does not answer is named in `unavailable`; the others still count."""
    limit = check_limit(limit)
    request = audit_pb2.ListAuditRequest(limit=limit)
    if since is not None:
        request.since.CopyFrom(timestamp(since))

    async def ask(stub: audit_pb2_grpc.AuditServiceStub) -> list[AuditEntry]:
        # Not waiting for a service that is down: the others' entries are shown at once.
        try:
            response = await stub.ListAudit(request, timeout=timeout, wait_for_ready=False)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return [from_proto(message) for message in response.entries]

    names = list(stubs)
    answers = await asyncio.gather(*(ask(stubs[name]) for name in names), return_exceptions=True)
    local = await asyncio.gather(*(asyncio.to_thread(audit.read_entries, audit.audit_path(config.state_path, name),
                                                     since, limit) for name in LOCAL_FILES))
    entries: list[AuditEntry] = [entry for entries_of_one in local for entry in entries_of_one]
    unavailable: dict[str, str] = {}
    for name, answer in zip(names, answers, strict=True):
        if isinstance(answer, PostflowError):
            unavailable[name] = f"{answer.code.name}: {answer}"
        elif isinstance(answer, BaseException):
            raise answer
        else:
            entries.extend(answer)
    entries.sort(key=lambda entry: entry.at)
    return Merged(entries[-limit:], unavailable)
