"""Frame.io's webhook deliveries, as the streamer hands them over: checked (the webhook, its
signature, its age, the payload), stored once, answered at once; the dispatcher acts on them
later. Each refusal is one INFO line naming the reason and the sender, and nothing else."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

from postflow.frameio_review import WEBHOOK_EVENTS
from postflow.v1 import watcher_pb2
from services.watcher.review.events import FrameioEvent, NotAnEvent
from services.watcher.review.hooks_store import HooksStore
from services.watcher.review.metrics import ReviewMetrics, outcome_label

log = logging.getLogger(__name__)

Receipt = watcher_pb2.FrameioWebhookReceipt


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    """Frame.io's `X-Frameio-Signature`: HMAC-SHA256 with the webhook's secret over `v0:{timestamp}:{body}`."""
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


def dedup_key(delivery: watcher_pb2.FrameioWebhookDelivery) -> str:
    """The same delivery (Frame.io's retry, or a replay) has the same key."""
    digest = hashlib.sha256()
    for part in (delivery.hook.encode(), delivery.timestamp.encode(), delivery.body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


class HookReceiver:
    def __init__(self, store: HooksStore, max_age_s: float, on_accepted: Callable[[], None],
                 clock: Callable[[], float] = time.time, metrics: ReviewMetrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or ReviewMetrics()
        self.max_age_s = max_age_s
        self.on_accepted = on_accepted  # wakes the dispatcher
        self.clock = clock

    async def receive(self, delivery: watcher_pb2.FrameioWebhookDelivery) -> watcher_pb2.FrameioWebhookReceipt:
        outcome, reason = await self._check_and_store(delivery)
        self.metrics.received(outcome)
        if outcome != Receipt.ACCEPTED:
            log.info("Frame.io webhook delivery from %s %s: %s", delivery.remote_address or "an unknown sender",
                     outcome_label(outcome).replace("_", " "), reason)
        return Receipt(outcome=outcome, reason=reason)  # type: ignore[arg-type]

    async def _check_and_store(self, delivery: watcher_pb2.FrameioWebhookDelivery) -> tuple[int, str]:
        registration = await self.store.registration(delivery.hook)
        if registration is None:
            return Receipt.UNKNOWN_HOOK, f"no webhook of PostFlow has the key {delivery.hook[:6]}…"
        expected = signature_of(registration.secret, delivery.timestamp, delivery.body)
        if not hmac.compare_digest(expected.encode(), delivery.signature.encode()):
            return Receipt.BAD_SIGNATURE, f"the signature does not match (workspace {registration.workspace_name!r})"
        now = self.clock()
        try:
            age = now - int(delivery.timestamp)
        except ValueError:
            return Receipt.STALE, "the timestamp is not a number of seconds"
        if abs(age) > self.max_age_s:
            return Receipt.STALE, f"sent {age:.0f}s ago, outside ±{self.max_age_s:.0f}s (review.webhook_max_age_s)"
        try:
            event = FrameioEvent.from_body(delivery.body, now)
        except NotAnEvent as exc:
            return Receipt.MALFORMED, str(exc)
        if event.type not in WEBHOOK_EVENTS:
            return Receipt.IGNORED, f"{event.type} is not an event PostFlow acts on"
        if not await self.store.accept(dedup_key(delivery), json.dumps(dataclasses.asdict(event)), now):
            return Receipt.DUPLICATE, f"{event.type} of {event.resource_type} {event.resource_id} was received before"
        self.on_accepted()
        return Receipt.ACCEPTED, f"{event.type} of {event.resource_type} {event.resource_id}"
