"""What auth holds for one connection, the timing rules around it, and its stored form."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from postflow.core.protos import timestamp
from postflow.v1 import auth_pb2

from .ims import Tokens

RECORD_VERSION = 2  # 1: before the re-login deadline was stored


@dataclass(frozen=True)
class Grant:
    kind: int  # auth_pb2.GRANT_KIND_*
    client_id: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    issued_at: float
    expires_at: float
    connected_at: float
    last_refresh_at: float = 0.0
    refresh_count: int = 0
    user_name: str = ""
    user_email: str = ""
    account_id: str = ""
    # When the refresh token dies and someone must log in again (0: never, server-to-server).
    # Counted from the login and never moved by a refresh: IMS does not extend it.
    reauth_deadline: float = 0.0

    @classmethod
    def issued(cls, kind: int, client_id: str, tokens: Tokens, refresh_token_lifetime_s: float) -> Grant:
        deadline = tokens.requested_at + refresh_token_lifetime_s if kind == auth_pb2.GRANT_KIND_WEB_APP else 0.0
        return cls(kind, client_id, tokens.access_token, tokens.refresh_token, tokens.requested_at,
                   tokens.requested_at + tokens.expires_in, tokens.requested_at, reauth_deadline=deadline)

    def refreshed(self, tokens: Tokens) -> Grant:
        # IMS may or may not rotate the refresh token; keep the old one only when it sent none.
        return dataclasses.replace(
            self, access_token=tokens.access_token, refresh_token=tokens.refresh_token or self.refresh_token,
            issued_at=tokens.requested_at, expires_at=tokens.requested_at + tokens.expires_in,
            last_refresh_at=tokens.requested_at, refresh_count=self.refresh_count + 1,
        )

    @property
    def lifetime(self) -> float:
        return max(0.0, self.expires_at - self.issued_at)

    def due_at(self, margin_s: float) -> float:
        """When to refresh: `margin_s` before expiry, but never earlier than half-way through
        the token's life (a margin longer than the lifetime would refresh on every call)."""
        return self.expires_at - min(margin_s, self.lifetime / 2)

    def usable(self, now: float) -> bool:
        """Still worth handing out when a refresh cannot happen right now."""
        return now < self.expires_at - min(30.0, self.lifetime / 4)

    def lapsed(self, now: float) -> bool:
        """Past the re-login deadline: the refresh token is dead, whatever IMS would say."""
        return bool(self.reauth_deadline) and now >= self.reauth_deadline

    def same_connection(self, other: Grant | None) -> bool:
        return other is not None and other.connected_at == self.connected_at and other.kind == self.kind

    def describe(self, status: auth_pb2.AuthStatus) -> None:
        """Fills in what a status shows of the grant: who, the times, the refresh count."""
        status.user_name, status.user_email, status.account_id = self.user_name, self.user_email, self.account_id
        status.refresh_count = self.refresh_count
        status.access_expires_at.CopyFrom(timestamp(self.expires_at))
        status.connected_at.CopyFrom(timestamp(self.connected_at))
        if self.last_refresh_at:
            status.last_refresh_at.CopyFrom(timestamp(self.last_refresh_at))
        if self.reauth_deadline:
            status.reauth_deadline.CopyFrom(timestamp(self.reauth_deadline))


def to_record(state: int, message: str, grant: Grant | None) -> dict[str, Any]:
    stored = None
    if grant is not None:
        stored = dataclasses.asdict(grant)
        stored["kind"] = auth_pb2.GrantKind.Name(grant.kind)
    return {"version": RECORD_VERSION, "state": auth_pb2.AuthState.Name(state), "message": message, "grant": stored}


def from_record(record: dict[str, Any], refresh_token_lifetime_s: float) -> tuple[auth_pb2.AuthState, str,
                                                                                   Grant | None]:
    """(state, message, grant); raises ValueError for a record this version cannot read. A
    version 1 web-app grant gets the deadline of a login at its `connected_at`."""
    version = record.get("version")
    if version not in (1, RECORD_VERSION):
        raise ValueError(f"record version {version!r}")
    state = auth_pb2.AuthState.Value(record["state"])
    stored = record.get("grant")
    grant = None
    if stored is not None:
        grant = Grant(**{**stored, "kind": auth_pb2.GrantKind.Value(stored["kind"])})
        if version == 1 and grant.kind == auth_pb2.GRANT_KIND_WEB_APP:
            grant = dataclasses.replace(grant, reauth_deadline=grant.connected_at + refresh_token_lifetime_s)
    return state, str(record.get("message", "")), grant
