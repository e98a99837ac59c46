"""Frame.io calls as Prometheus metrics: every answer by call family ("endpoint") and HTTP
status, and the time calls were held back to keep under the rate limits."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

NETWORK_ERROR = "network_error"  # the status of a call that got no answer


class FrameioMeter:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("postflow_frameio_requests", "Frame.io API requests by call family and HTTP status "
                                f"({NETWORK_ERROR}: no answer)", ["endpoint", "status"], registry=registry)
        self.waits = Counter("postflow_frameio_rate_limit_waits", "Frame.io requests held back by rate-limit pacing "
                             "or a pause after a 429", ["endpoint"], registry=registry)
        self.wait_seconds = Counter("postflow_frameio_rate_limit_wait_seconds", "Time Frame.io requests were held "
                                    "back by rate-limit pacing or a pause after a 429", ["endpoint"], registry=registry)

    def answered(self, endpoint: str, status: int | None) -> None:
        self.requests.labels(endpoint, str(status) if status else NETWORK_ERROR).inc()

    def waited(self, endpoint: str, seconds: float) -> None:
        self.waits.labels(endpoint).inc()
        self.wait_seconds.labels(endpoint).inc(seconds)
