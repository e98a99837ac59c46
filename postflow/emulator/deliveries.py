"""What Frame.io's webhooks send: for each event in a workspace, a signed POST to every active
webhook of that workspace subscribed to it, as documented:

- body `{"account": {"id"}, "workspace": {"id"}, "project": {"id"}, "user": {"id"},
  "resource": {"id", "type"}, "type": "<event>"}` (ids only);
- headers `X-Frameio-Request-Timestamp: <unix seconds>`, `X-Frameio-Signature: v0=<hex>` (HMAC-SHA256
  with the webhook's secret over `v0:{timestamp}:{raw body}`), `User-Agent: Frame.io V4 API`;
- 5 attempts in all; a non-2xx answer, or none within `webhook_deadline_s` (5 s), is a failure,
  retried after `webhook_backoff_s` (15 s), doubling each time, each wait stretched by up to a
  quarter at random (jitter).

Deliveries run as tasks of the emulator's event loop, never inside the API call that caused
them; every attempt is recorded for tests (`/_emulator/webhooks/deliveries`; the latest
KEPT_ATTEMPTS). The fault `webhook_drop` drops deliveries: recorded, never sent."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from postflow.emulator.directory import Directory, new_id
from postflow.emulator.faults import Faults
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.resources import iso
from postflow.emulator.store import File, Store
from postflow.emulator.webhooks import Webhook, Webhooks

log = logging.getLogger(__name__)

WEBHOOK_ATTEMPTS = 5
JITTER = 0.25
USER_AGENT = "Frame.io V4 API"
KEPT_ATTEMPTS = 10_000  # the latest; an emulator left running (the demo) must not grow without end


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


@dataclass
class Attempt:
    """One attempt at one delivery (a dropped delivery: one record, never sent)."""

    delivery_id: str
    webhook_id: str
    url: str
    event: str
    resource_id: str
    resource_type: str
    attempt: int
    started_at: float
    status_code: int | None = None
    error: str | None = None
    dropped: bool = False
    ended_at: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> dict:
        return {"delivery_id": self.delivery_id, "webhook_id": self.webhook_id, "url": self.url,
                "event": self.event, "resource": {"id": self.resource_id, "type": self.resource_type},
                "attempt": self.attempt, "status_code": self.status_code, "error": self.error,
                "dropped": self.dropped, "succeeded": self.succeeded, "started_at": iso(self.started_at),
                "ended_at": iso(self.ended_at) if self.ended_at is not None else None}


class Deliveries:
    """Emits events to the webhooks listening and records every attempt. Also the store's
    `events` (store.FileEvents): uploads completing and files joining version stacks."""

    def __init__(self, http: httpx.AsyncClient, options: EmulatorOptions, faults: Faults, store: Store,
                 webhooks: Webhooks, rng: random.Random | None = None, kept: int = KEPT_ATTEMPTS) -> None:
        self._http = http
        self._options = options
        self._faults = faults
        self._store = store
        self._webhooks = webhooks
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task] = set()
        self.attempts: deque[Attempt] = deque(maxlen=kept)

    @property
    def pending(self) -> int:
        """Deliveries (and delayed events) still under way."""
        return len(self._tasks)

    @property
    def _directory(self) -> Directory:
        return self._store.directory

    def file_event(self, event: str, file: File, delay_s: float = 0.0) -> None:
        project = self._directory.projects.get(file.project_id)
        if project is not None:
            self.emit(event, project.id, file.creator_id or project.owner_id, file.id, "file", delay_s)

    def emit(self, event: str, project_id: str, user_id: str, resource_id: str, resource_type: str,
             delay_s: float = 0.0) -> None:
        """Sends `event` (now, or `delay_s` from now if the resource still exists then) to every
        active webhook of the project's workspace subscribed to it."""
        if delay_s > 0:
            self._spawn(self._emit_later(delay_s, event, project_id, user_id, resource_id, resource_type))
            return
        project = self._directory.projects.get(project_id)
        if project is None:
            return
        body = json.dumps({"account": {"id": project.account_id}, "workspace": {"id": project.workspace_id},
                           "project": {"id": project.id}, "user": {"id": user_id},
                           "resource": {"id": resource_id, "type": resource_type}, "type": event}).encode()
        for webhook in self._webhooks.listening(project.workspace_id, event):
            self._spawn(self._deliver(webhook, event, resource_id, resource_type, body))

    async def _emit_later(self, delay_s: float, event: str, project_id: str, user_id: str, resource_id: str,
                          resource_type: str) -> None:
        await asyncio.sleep(delay_s)
        if resource_type != "file" or resource_id in self._store.assets:
            self.emit(event, project_id, user_id, resource_id, resource_type)

    async def _deliver(self, webhook: Webhook, event: str, resource_id: str, resource_type: str,
                       body: bytes) -> None:
        delivery_id = new_id()

        def record(attempt: int, **outcome: Any) -> Attempt:
            entry = Attempt(delivery_id, webhook.id, webhook.url, event, resource_id, resource_type, attempt,
                            time.time(), **outcome)
            self.attempts.append(entry)
            return entry

        if self._faults.drops_webhook():
            record(1, dropped=True, error="dropped (fault webhook_drop)", ended_at=time.time())
            log.info("webhook delivery %s of %s to webhook %s dropped (fault)", delivery_id, event, webhook.id)
            return
        for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
            entry = record(attempt)
            await self._post(webhook, body, entry)
            if entry.succeeded:
                return
            if attempt < WEBHOOK_ATTEMPTS:
                backoff = self._options.webhook_backoff_s * 2 ** (attempt - 1)
                await asyncio.sleep(backoff * (1 + JITTER * self._rng.random()))
        log.info("webhook delivery %s of %s to webhook %s given up after %d attempts", delivery_id, event,
                 webhook.id, WEBHOOK_ATTEMPTS)

    async def _post(self, webhook: Webhook, body: bytes, entry: Attempt) -> None:
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "X-Frameio-Request-Timestamp": timestamp,
                   "X-Frameio-Signature": signature(webhook.secret, timestamp, body)}
        deadline = self._options.webhook_deadline_s
        try:
            async with asyncio.timeout(deadline):
                response = await self._http.post(webhook.url, content=body, headers=headers)
            entry.status_code = response.status_code
            if not entry.succeeded:
                entry.error = f"HTTP {response.status_code}"
        except TimeoutError:
            entry.error = f"no answer within {deadline:g} s"
        except httpx.HTTPError as exc:
            entry.error = f"{type(exc).__name__}: {exc}"
        entry.ended_at = time.time()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Cancels the deliveries (and delayed events) still under way."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def clear(self) -> None:
        await self.aclose()
        self.attempts.clear()
