"""The review loop's metrics: Frame.io's webhook deliveries by how the receiver took them, and the
comments and approvals told, counted as they happen; the delivered files followed now, counted
before each scrape; and when the last full sweep ended, for an alert that polling stalled."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from postflow.v1 import watcher_pb2
from services.watcher.outbound.events import Outgoing

Outcome = watcher_pb2.FrameioWebhookReceipt.Outcome


def outcome_label(outcome: int) -> str:
    """`bad_signature` for BAD_SIGNATURE."""
    return Outcome.Name(outcome).lower()


class ReviewMetrics:
    """Given no registry, it counts into one of its own, served nowhere (a test's review loop)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.deliveries = Counter("postflow_frameio_webhook_deliveries",
                                  "Frame.io webhook deliveries the watcher received, by how it took them",
                                  ["outcome"], registry=registry)
        for outcome in Outcome.values():
            if outcome != Outcome.Value("OUTCOME_UNSPECIFIED"):
                self.deliveries.labels(outcome_label(outcome))  # every outcome present from the start, at 0
        self.events = Counter("postflow_review_events", "Comments and approvals the review loop told (enqueued)",
                              ["pipeline", "event"], registry=registry)
        self.followed_files = Gauge("postflow_review_followed_files",
                                    "Delivered files whose review is followed now", registry=registry)
        self.last_sweep = Gauge("postflow_review_last_sweep_timestamp_seconds",
                                "When the last full sweep of the followed files ended (Unix time; the "
                                "watcher's start until the first one has)", registry=registry)
        self.last_sweep.set(time.time())

    def received(self, outcome: int) -> None:
        self.deliveries.labels(outcome_label(outcome)).inc()

    def told(self, events: Iterable[Outgoing]) -> None:
        for event in events:
            for pipeline in event.pipelines:
                self.events.labels(pipeline, event.type).inc()

    def swept(self, at: float) -> None:
        self.last_sweep.set(at)
