"""Who may call each RPC: the one table (the README shows it). A caller is allowed when its
certificate names one of the rule's identities, or its API key has one of the rule's scopes.
Health answers anybody; anything not in the table, nobody."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from postflow.core.mesh.identity import ADMIN, IDENTITIES, Kind, Principal, Scope

HEALTH = "/grpc.health.v1.Health/"
REFLECTION = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")


@dataclass(frozen=True)
class Rule:
    identities: frozenset[str]
    scopes: frozenset[Scope] = frozenset()


def rule(*identities: str, scopes: tuple[Scope, ...] = ()) -> Rule:
    return Rule(frozenset(identities), frozenset(scopes))


ANY_CERTIFICATE = IDENTITIES
READ_JOBS = (Scope.JOBS_READ, Scope.JOBS_WRITE, Scope.ADMIN)
WRITE_JOBS = (Scope.JOBS_WRITE, Scope.ADMIN)

RULES: dict[str, Rule] = {
    # auth: the Frame.io token only for the watcher, connecting only from the dashboard or an admin
    "/postflow.v1.AuthService/GetAccessToken": rule("watcher"),
    "/postflow.v1.AuthService/GetStatus": rule(*ANY_CERTIFICATE),
    "/postflow.v1.AuthService/WatchStatus": rule(*ANY_CERTIFICATE),
    "/postflow.v1.AuthService/ListConnections": rule(*ANY_CERTIFICATE),
    "/postflow.v1.AuthService/BeginAuthorization": rule("dashboard", ADMIN),
    "/postflow.v1.AuthService/CompleteAuthorization": rule("dashboard", ADMIN),
    "/postflow.v1.AuthService/Disconnect": rule("dashboard", ADMIN),
    # streamer: files leave only at the watcher's (or an admin's) request
    "/postflow.v1.StreamerService/Publish": rule("watcher", ADMIN),
    "/postflow.v1.StreamerService/Revoke": rule("watcher", ADMIN),
    "/postflow.v1.StreamerService/Push": rule("watcher", ADMIN),
    "/postflow.v1.StreamerService/GetPublication": rule(*ANY_CERTIFICATE),
    "/postflow.v1.StreamerService/GetTunnelStatus": rule(*ANY_CERTIFICATE),
    "/postflow.v1.StreamerService/WatchEvents": rule(*ANY_CERTIFICATE),
    # watcher: the job API, also for other tools by API key
    "/postflow.v1.WatcherService/GetJob": rule(*ANY_CERTIFICATE, scopes=READ_JOBS),
    "/postflow.v1.WatcherService/ListJobs": rule(*ANY_CERTIFICATE, scopes=READ_JOBS),
    "/postflow.v1.WatcherService/WatchJobs": rule(*ANY_CERTIFICATE, scopes=READ_JOBS),
    "/postflow.v1.WatcherService/GetStats": rule(*ANY_CERTIFICATE, scopes=READ_JOBS),
    "/postflow.v1.WatcherService/SubmitFile": rule("dashboard", ADMIN, scopes=WRITE_JOBS),
    "/postflow.v1.WatcherService/RetryJob": rule("dashboard", ADMIN, scopes=WRITE_JOBS),
    "/postflow.v1.WatcherService/CancelJob": rule("dashboard", ADMIN, scopes=WRITE_JOBS),
    # watcher: API keys, managed by an admin (certificate or key)
    "/postflow.v1.WatcherService/CreateApiKey": rule(ADMIN, scopes=(Scope.ADMIN,)),
    "/postflow.v1.WatcherService/ListApiKeys": rule(ADMIN, scopes=(Scope.ADMIN,)),
    "/postflow.v1.WatcherService/RevokeApiKey": rule(ADMIN, scopes=(Scope.ADMIN,)),
    "/postflow.v1.WatcherService/ListPipelines": rule(*ANY_CERTIFICATE, scopes=READ_JOBS),
    "/postflow.v1.WatcherService/ListUnrouted": rule(*ANY_CERTIFICATE, scopes=READ_JOBS),
    "/postflow.v1.WatcherService/Rescan": rule("dashboard", ADMIN, scopes=WRITE_JOBS),
    "/postflow.v1.WatcherService/ReloadConfig": rule("dashboard", ADMIN, scopes=(Scope.ADMIN,)),
    "/postflow.v1.WatcherService/GetHistory": rule(*ANY_CERTIFICATE, scopes=READ_JOBS),
    # watcher: the delivery log of webhooks and notifications, for admins (and the dashboard's)
    "/postflow.v1.WatcherService/ListDeliveries": rule("dashboard", ADMIN, scopes=(Scope.ADMIN,)),
    "/postflow.v1.WatcherService/ReplayDelivery": rule("dashboard", ADMIN, scopes=(Scope.ADMIN,)),
    # watcher: Frame.io's webhooks come in through the streamer's public server; registering them is an admin's
    "/postflow.v1.WatcherService/ReceiveFrameioWebhook": rule("streamer"),
    "/postflow.v1.WatcherService/SetupFrameioWebhooks": rule(ADMIN, scopes=(Scope.ADMIN,)),
    "/postflow.v1.WatcherService/GetReview": rule(*ANY_CERTIFICATE, scopes=READ_JOBS),
    # every service: its audit log, for admins (the dashboard shows it to its admins)
    "/postflow.v1.AuditService/ListAudit": rule("dashboard", ADMIN, scopes=(Scope.ADMIN,)),
}

# The mutating calls the audit log records when they are allowed (every refused call is
# recorded), and the request fields that say what they acted on: never a secret (the
# authorization code). The streamer's Publish, Revoke and Push are the watcher's machine
# traffic, recorded only when refused.
AUDITED: dict[str, tuple[str, ...]] = {
    "/postflow.v1.WatcherService/SubmitFile": ("path",),
    "/postflow.v1.WatcherService/RetryJob": ("id",),
    "/postflow.v1.WatcherService/CancelJob": ("id",),
    "/postflow.v1.WatcherService/SetupFrameioWebhooks": ("connection", "public_url"),
    "/postflow.v1.AuthService/BeginAuthorization": ("connection",),
    "/postflow.v1.AuthService/CompleteAuthorization": ("connection",),
    "/postflow.v1.AuthService/Disconnect": ("connection",),
    "/postflow.v1.WatcherService/CreateApiKey": ("name", "scopes"),  # the key is only in the reply
    "/postflow.v1.WatcherService/RevokeApiKey": ("name",),
    "/postflow.v1.WatcherService/Rescan": ("pipeline", "upload_existing"),
    "/postflow.v1.WatcherService/ReloadConfig": (),
    "/postflow.v1.WatcherService/ReplayDelivery": ("id",),
}


class Decision(enum.Enum):
    ALLOW = "allow"
    UNAUTHENTICATED = "unauthenticated"  # nobody known asked: present a certificate or a key
    DENY = "deny"  # somebody known asked for what is not theirs


def decide(principal: Principal, method: str) -> Decision:
    if method.startswith(HEALTH) or principal.kind == Kind.UNSECURED:
        return Decision.ALLOW
    if not principal.authenticated:
        return Decision.UNAUTHENTICATED
    if method.startswith(REFLECTION):
        return Decision.ALLOW
    found = RULES.get(method)
    if found is None:
        return Decision.DENY
    if principal.kind == Kind.CERTIFICATE and principal.name in found.identities:
        return Decision.ALLOW
    if principal.kind == Kind.API_KEY and principal.scopes & found.scopes:
        return Decision.ALLOW
    return Decision.DENY
