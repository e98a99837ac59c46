"""Where entries go: a webhook (one signed POST per event) or a notification rule (one Apprise
message per batch). Each target says which events it takes and sends a batch of its entries,
answering with an `Outcome`; it never raises for what the far side does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from postflow.core.config import Config
from postflow.core.outbound_config import NotificationRule, WebhookTarget, apprise_service, quiet_apprise, rule_key
from services.watcher.outbound.events import Outgoing
from services.watcher.outbound.messages import compose
from services.watcher.outbound.outbox import Entry

SIGNATURE_VERSION = "v0"  # Frame.io's scheme: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")
RETRIED_STATUSES = frozenset({408, 425, 429})  # and every 5xx: the receiver may take it later
NOTIFICATION_BATCH = 500  # entries at most in one message (each kind lists a few and counts the rest)


@dataclass(frozen=True)
class Outcome:
    result: Literal["sent", "retry", "rejected"]
    error: str = ""


SENT = Outcome("sent")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={digest.hexdigest()}"


class Target(ABC):
    kind: str
    batch_limit = 1  # entries sent together
    window_s = 0.0  # how long the first entry waits for others to join it

    def __init__(self, rule: NotificationRule | WebhookTarget, label: str, mask: Callable[[str], str]) -> None:
        self.key = rule_key(rule)
        self.label = label
        self.events = frozenset(rule.events)
        self.pipelines = frozenset(rule.pipelines)
        self.timeout_s = rule.timeout_s
        self.mask = mask

    def wants(self, event: Outgoing) -> bool:
        return event.type in self.events and (not self.pipelines or not event.pipelines
                                               or bool(self.pipelines & event.pipelines))

    @abstractmethod
    async def send(self, entries: list[Entry]) -> Outcome:
        """Sends the entries (at most `batch_limit`), within `timeout_s`."""


class Webhook(Target):
    kind = "webhook"

    def __init__(self, hook: WebhookTarget, index: int, http: httpx.AsyncClient, mask: Callable[[str], str],
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(hook, f"webhooks[{index}] {urlsplit(hook.url).hostname}", mask)
        self.url = hook.url
        self.secret = hook.secret
        self.http = http
        self.clock = clock

    async def send(self, entries: list[Entry]) -> Outcome:
        (entry,) = entries
        body = entry.body.encode()
        timestamp = str(int(self.clock()))
        headers = {"content-type": "application/json", "user-agent": "PostFlow", "idempotency-key": entry.key,
                   "x-postflow-event": entry.event, "x-postflow-timestamp": timestamp,
                   "x-postflow-signature": signature(self.secret, timestamp, body)}
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.http.post(self.url, content=body, headers=headers)
        except TimeoutError:
            return Outcome("retry", f"no answer within {self.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return Outcome("retry", self.mask(f"{type(exc).__name__}: {exc}"))
        if response.is_success:
            return SENT
        if response.status_code in RETRIED_STATUSES or response.status_code >= 500:
            return Outcome("retry", f"HTTP {response.status_code}")
        return Outcome("rejected", f"HTTP {response.status_code} (not retried; replay it once the receiver takes it)")


class Notification(Target):
    kind = "notification"
    batch_limit = NOTIFICATION_BATCH

    def __init__(self, rule: NotificationRule, index: int, mask: Callable[[str], str]) -> None:
        import apprise

        quiet_apprise()
        super().__init__(rule, f"notifications[{index}] {apprise_service(rule.url)}", mask)
        self.window_s = rule.batch_window_s
        self.apprise = apprise.Apprise()
        self.apprise.add(rule.url)
        for service in self.apprise:
            # Apprise sleeps up to 5.5 s between two sends of one service; the batch window
            # paces a rule instead, so that a send's time is its own and `timeout_s` means it.
            service.request_rate_per_sec = 0

    async def send(self, entries: list[Entry]) -> Outcome:
        bodies: list[dict[str, Any]] = [json.loads(entry.body) for entry in entries]
        message = compose(bodies, self.pipelines)
        try:
            # Apprise bounds its own call by `timeout`; ours also covers what it does before and after.
            async with asyncio.timeout(self.timeout_s + 1):
                result = await self.apprise.async_notify(body=message.body, title=message.title,
                                                         notify_type=message.severity, body_format="text",
                                                         timeout=self.timeout_s)
        except TimeoutError:
            return Outcome("retry", f"no answer within {self.timeout_s:g} s")
        if result:
            return SENT
        said = [entry.message for entry in result.logs() if entry.message]
        return Outcome("retry", self.mask(said[-1] if said else f"not sent ({result.status})"))


def targets_of(config: Config, http: httpx.AsyncClient, mask: Callable[[str], str]) -> list[Target]:
    """Every notification rule and webhook of the config (blocking: the first one loads
    Apprise's plugins)."""
    notifications: list[Target] = [Notification(rule, index, mask) for index, rule in enumerate(config.notifications)]
    return notifications + [Webhook(hook, index, http, mask) for index, hook in enumerate(config.webhooks)]
