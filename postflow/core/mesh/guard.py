"""The guard: a server interceptor that finds who calls (the front's certificate, else an
API key over TLS, else nobody), asks the policy, refuses with UNAUTHENTICATED or
PERMISSION_DENIED naming the method and the caller, and keeps the audit log of refused
calls and of allowed mutating ones. Handlers find their caller with `caller()`, and the person
the dashboard acts for with `actor()`: the `x-postflow-actor` metadata (an e-mail address),
believed only from the dashboard's certificate and written in the audit line's `who`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import NoReturn

import grpc

from postflow.core.errors import PostflowError
from postflow.core.handlers import wrap_handler
from postflow.core.mesh.audit import AuditEntry, AuditLog
from postflow.core.mesh.certs import Credentials
from postflow.core.mesh.front import PeerRegistry
from postflow.core.mesh.identity import ANONYMOUS, UNSECURED, Authenticator, Kind, Principal, certificate
from postflow.core.mesh.policy import AUDITED, HEALTH, Decision, decide

log = logging.getLogger(__name__)

_CALLER: ContextVar[Principal] = ContextVar("postflow_caller", default=ANONYMOUS)
_ACTOR: ContextVar[str] = ContextVar("postflow_actor", default="")
ACTOR_METADATA = "x-postflow-actor"
MAX_ACTOR = 254  # an e-mail address's longest
ACTING_FOR = certificate("dashboard")  # the one caller that acts for people signed in to it


def caller() -> Principal:
    """Who makes the call being handled (in a handler of a guarded server)."""
    return _CALLER.get()


def actor() -> str:
    """The person the dashboard acts for in the call being handled; "" for another caller."""
    return _ACTOR.get()


@dataclass(frozen=True)
class Security:
    """How a service's server admits callers. `credentials` None: mesh.mtls is off, every
    caller is UNSECURED (allowed everything)."""

    service: str
    credentials: Credentials | None
    authenticator: Authenticator | None = None
    audit: AuditLog | None = None


@dataclass(frozen=True)
class Caller:
    principal: Principal
    address: str  # where the call came from, for the audit log
    actor: str = ""  # the person the dashboard acts for

    def __str__(self) -> str:
        return f"{self.principal} for {self.actor}" if self.actor else str(self.principal)


class Guard(grpc.aio.ServerInterceptor):
    def __init__(self, security: Security, registry: PeerRegistry) -> None:
        self._security = security
        self._registry = registry

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return wrap_handler(handler, functools.partial(self._admitted, handler_call_details.method))

    @contextlib.asynccontextmanager
    async def _admitted(self, method: str, request, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        found = await self._caller(method, context)
        if found.principal == ACTING_FOR:
            person = _metadata(context.invocation_metadata(), ACTOR_METADATA) or ""
            found = dataclasses.replace(found, actor=person[:MAX_ACTOR])
        decision = decide(found.principal, method)
        if decision != Decision.ALLOW:
            await self._refuse(method, request, context, found, decision)
        _CALLER.set(found.principal)
        _ACTOR.set(found.actor)
        async with self._ended_by_revocation(found, context):
            if method not in AUDITED:
                yield
                return
            outcome = "ok"
            try:
                yield
            except BaseException:
                code = context.code()
                outcome = f"failed: {code.name if isinstance(code, grpc.StatusCode) else 'error'}"
                raise
            finally:
                self._record(method, request, found, outcome)

    @contextlib.asynccontextmanager
    async def _ended_by_revocation(self, found: Caller, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """An API-key caller's call (a stream above all) ends UNAUTHENTICATED once its key is revoked."""
        authenticator = self._security.authenticator
        if found.principal.kind != Kind.API_KEY or authenticator is None:
            yield
            return
        revoked = authenticator.revocation(found.principal)
        call = asyncio.current_task()
        assert call is not None
        ending = asyncio.create_task(_cancel_when_set(revoked, call))
        try:
            yield
        except asyncio.CancelledError:
            if not revoked.is_set():
                raise
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"API key {found.principal.name!r} was revoked")
        finally:
            ending.cancel()

    async def _caller(self, method: str, context: grpc.aio.ServicerContext) -> Caller:
        if self._security.credentials is None:
            return Caller(UNSECURED, context.peer())
        peer = self._registry.find(context.peer())
        if peer is not None and peer.principal.authenticated:
            return Caller(peer.principal, peer.address)
        anonymous = Caller(ANONYMOUS, peer.address if peer is not None else context.peer())
        bearer = _bearer(context.invocation_metadata())
        if bearer is None or method.startswith(HEALTH):
            return anonymous
        authenticator = self._security.authenticator
        if not ((peer is not None and peer.tls) or _tls_port(context)):
            reason = "API keys are accepted over TLS only"
        elif not bearer:
            reason = "the authorization metadata must be `Bearer <key>`"
        elif authenticator is None:
            reason = f"{self._security.service} takes no API keys"
        else:
            try:
                return Caller(await authenticator.authenticate(bearer, anonymous.address), anonymous.address)
            except PostflowError as exc:
                await self._abort(method, context, anonymous, "unauthenticated", exc.code, str(exc))
        await self._abort(method, context, anonymous, "unauthenticated", grpc.StatusCode.UNAUTHENTICATED, reason)

    async def _refuse(self, method: str, request, context: grpc.aio.ServicerContext, found: Caller,
                      decision: Decision) -> NoReturn:
        name = _short(method)
        if decision == Decision.UNAUTHENTICATED:
            await self._abort(method, context, found, "unauthenticated", grpc.StatusCode.UNAUTHENTICATED,
                              f"{name} needs a mesh certificate or an API key (without, only health answers)",
                              request)
        log.warning("mesh: refused %s to %s (%s)", name, found.principal, found.address)
        await self._abort(method, context, found, "denied", grpc.StatusCode.PERMISSION_DENIED,
                          f"{found.principal} may not call {name}", request)

    async def _abort(self, method: str, context: grpc.aio.ServicerContext, found: Caller, outcome: str,
                     code: grpc.StatusCode, message: str, request=None) -> NoReturn:
        self._record(method, request, found, outcome)
        await context.abort(code, message)
        raise AssertionError("context.abort returned")  # it raises

    def _record(self, method: str, request, found: Caller, outcome: str) -> None:
        if self._security.audit is None:
            return
        fields = AUDITED.get(method, ()) if request is not None else ()
        what = " ".join(str(getattr(request, field, "")) for field in fields)
        self._security.audit.record(AuditEntry(
            at=time.time(), who=str(found), action=_short(method), what=what, outcome=outcome,
            service=self._security.service, peer=found.address))


async def _cancel_when_set(event: asyncio.Event, task: asyncio.Task) -> None:
    await event.wait()
    task.cancel()


def _bearer(metadata) -> str | None:
    """The bearer credential sent, "" for an authorization that is not a bearer, None for none."""
    authorization = _metadata(metadata, "authorization")
    if authorization is None:
        return None
    scheme, _, credential = authorization.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _metadata(metadata, name: str) -> str | None:
    for key, value in metadata or ():
        if key == name:
            return str(value)
    return None


def _tls_port(context: grpc.aio.ServicerContext) -> bool:
    """The call came in on a port where gRPC itself speaks TLS (the watcher's API port)."""
    return context.auth_context().get("transport_security_type") == [b"ssl"]


def _short(method: str) -> str:
    return method.rpartition("/")[2]
