"""Who a caller is. Certificates are issued to `IDENTITIES` only, each naming one (its
common name); API keys carry scopes; a caller with neither is ANONYMOUS."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Protocol

SERVICES = ("auth", "watcher", "streamer", "dashboard")
ADMIN = "admin"  # the CLI's local credential
IDENTITIES = (*SERVICES, ADMIN)


class Scope(enum.StrEnum):
    JOBS_READ = "jobs:read"
    JOBS_WRITE = "jobs:write"
    ADMIN = "admin"


class Kind(enum.StrEnum):
    CERTIFICATE = "certificate"  # a service or the admin, by mutual TLS
    API_KEY = "api-key"
    ANONYMOUS = "anonymous"
    UNSECURED = "unsecured"  # mesh.mtls is off: every caller is trusted


@dataclass(frozen=True)
class Principal:
    kind: Kind
    name: str = ""  # the certificate's identity, or the API key's name
    scopes: frozenset[Scope] = field(default_factory=frozenset)

    @property
    def authenticated(self) -> bool:
        return self.kind != Kind.ANONYMOUS

    def __str__(self) -> str:
        if self.kind == Kind.API_KEY:
            return f"key:{self.name}"
        return self.name or str(self.kind)


ANONYMOUS = Principal(Kind.ANONYMOUS)
UNSECURED = Principal(Kind.UNSECURED, "unsecured")


def certificate(name: str) -> Principal:
    return Principal(Kind.CERTIFICATE, name)


class Authenticator(Protocol):
    """Finds who presents a bearer credential (an API key)."""

    async def authenticate(self, bearer: str, peer: str) -> Principal:
        """The key's principal; raises Unauthenticated for a missing, unknown or revoked key
        (ResourceExhausted when `peer` has sent too many bad ones of late)."""
        ...

    def revocation(self, principal: Principal) -> asyncio.Event:
        """Set once the key `principal` authenticated with is revoked (its calls in flight end)."""
        ...
