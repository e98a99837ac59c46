"""The watcher's metrics: what the ledger holds, read at scrape time (so they agree with the
job API and survive a restart), and what happens to attempts, counted as it happens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.watcher.feed import STATES
from services.watcher.jobs import ACTIVE, DONE, Job, JobState, state_name
from services.watcher.ledger import Ledger

# From a few seconds (a small file, pulled) to a day (a large push over a slow line).
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)


@dataclass(frozen=True)
class StateRow:
    """The jobs of one pipeline in one state: how many, their bytes, the latest delivery (done jobs), the
    oldest creation."""

    pipeline: str
    state: JobState
    jobs: int
    size: int
    delivered_last: float
    created_first: float


class LedgerMetrics(Collector):
    """Jobs by state and pipeline, deliveries, bytes delivered, the last delivery, and the
    oldest job still to deliver: one grouped read of the ledger before each scrape
    (`refresh`), reported by `collect`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.rows: list[StateRow] = []

    async def refresh(self) -> None:
        rows = await self.ledger.run(lambda: self.ledger.db.execute(
            "SELECT pipeline, state, COUNT(*), COALESCE(SUM(size), 0), MAX(delivered_at), MIN(created_at)"
            " FROM jobs GROUP BY pipeline, state").fetchall())
        self.rows = [StateRow(*row) for row in rows]

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("postflow_jobs", "Jobs in each state, all pipelines together", labels=["state"])
        by_pipeline = GaugeMetricFamily("postflow_pipeline_jobs", "Jobs in each state, by pipeline",
                                        labels=["pipeline", "state"])
        deliveries = CounterMetricFamily("postflow_deliveries", "Files delivered to Frame.io (jobs done)",
                                         labels=["pipeline"])
        delivered_bytes = CounterMetricFamily("postflow_delivered_bytes", "Bytes of the files delivered",
                                              labels=["pipeline"])
        last_delivery = GaugeMetricFamily("postflow_last_delivery_timestamp_seconds",
                                          "When the latest delivery completed (Unix time)", labels=["pipeline"])
        oldest_waiting = GaugeMetricFamily("postflow_oldest_waiting_job_timestamp_seconds",
                                           "When the oldest job not yet delivered, failed or cancelled was "
                                           "created (Unix time)", labels=["pipeline"])
        totals: dict[JobState, int] = dict.fromkeys(STATES, 0)
        oldest: dict[str, float] = {}
        for row in self.rows:
            totals[row.state] = totals.get(row.state, 0) + row.jobs
            by_pipeline.add_metric([row.pipeline, state_name(row.state)], row.jobs)
            if row.state == DONE:
                deliveries.add_metric([row.pipeline], row.jobs)
                delivered_bytes.add_metric([row.pipeline], row.size)
                last_delivery.add_metric([row.pipeline], row.delivered_last)
            elif row.state in ACTIVE:
                oldest[row.pipeline] = min(oldest.get(row.pipeline, row.created_first), row.created_first)
        for state, count in totals.items():
            jobs.add_metric([state_name(state)], count)
        for pipeline, created in oldest.items():
            oldest_waiting.add_metric([pipeline], created)
        yield from (jobs, by_pipeline, deliveries, delivered_bytes, last_delivery, oldest_waiting)


class AttemptMetrics:
    """What the orchestrator sees attempts come to: the time from a file found stable to
    Frame.io's upload complete, and each failed attempt's cause."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram("postflow_transfer_duration_seconds",
                                  "From the file found stable (job created) to Frame.io's upload complete",
                                  ["pipeline"], buckets=DURATION_BUCKETS, registry=registry)
        self.failures = Counter("postflow_failures", "Attempts that did not deliver, by cause", ["pipeline", "cause"],
                                registry=registry)

    def delivered(self, job: Job) -> None:
        self.duration.labels(job.pipeline).observe(max(0.0, job.updated_at - job.created_at))

    def failed(self, job: Job, cause: str) -> None:
        self.failures.labels(job.pipeline, cause).inc()
