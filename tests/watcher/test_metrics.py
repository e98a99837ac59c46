"""The watcher's /metrics after real deliveries to the emulator: jobs, deliveries, bytes and the
last delivery as the ledger has them, the transfer duration of each, failed attempts by cause,
and Frame.io requests by call family and status, rate-limit waits included. Off by default."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from postflow.testing.media import write_media
from postflow.testing.metrics import scrape
from postflow.testing.watcher import environment, list_jobs, make_job, start_watcher, wait_jobs
from postflow.v1 import common_pb2
from services.watcher.jobs import DONE, after_delivery_ran
from services.watcher.ledger import Ledger
from services.watcher.metrics import LedgerMetrics
from services.watcher.scanner import FileStat


@pytest.mark.asyncio
async def test_the_metrics_agree_with_the_ledger_after_deliveries_and_count_failures(tmp_path):
    async with environment(tmp_path, metrics={"watcher": "127.0.0.1:0"}) as env:
        await env.faults(server_error={"status": 502, "path": "*/files/remote_upload", "nth": 1, "count": 1},
                         rate_limit_burst={"count": 1, "path": "*/status", "retry_after": 0.2})
        stub = await start_watcher(env)
        for i in range(2):
            write_media(env.root / f"SQ01/f{i}.mov", 300_000 + i, seed=i)
        await wait_jobs(stub, 2, timeout=40)
        jobs = await list_jobs(stub)
        metrics = await scrape(f"127.0.0.1:{env.watchers[0].service.metrics.port}")
    done = [job for job in jobs if job.state == common_pb2.JOB_STATE_DONE]
    assert len(done) == len(jobs) == 2
    assert metrics.value("postflow_deliveries_total", pipeline="default") == 2
    assert metrics.value("postflow_delivered_bytes_total", pipeline="default") == sum(job.size for job in done)
    assert metrics.value("postflow_jobs", state="done") == 2
    assert metrics.total("postflow_jobs") == 2  # every other state is there, at 0
    assert metrics.value("postflow_jobs", state="failed") == 0
    assert metrics.value("postflow_pipeline_jobs", pipeline="default", state="done") == 2
    assert metrics.value("postflow_last_delivery_timestamp_seconds", pipeline="default") == pytest.approx(
        max(job.updated_at.ToNanoseconds() / 1e9 for job in done), abs=1e-3)
    assert metrics.value("postflow_oldest_waiting_job_timestamp_seconds", pipeline="default") is None
    durations = [(job.updated_at.ToNanoseconds() - job.created_at.ToNanoseconds()) / 1e9 for job in done]
    assert metrics.value("postflow_transfer_duration_seconds_count", pipeline="default") == 2
    assert metrics.value("postflow_transfer_duration_seconds_sum", pipeline="default") == pytest.approx(
        sum(durations), abs=1e-2)
    assert metrics.value("postflow_failures_total", pipeline="default", cause="transient") == 1
    assert metrics.value("postflow_frameio_requests_total", endpoint="upload", status="502") == 1
    assert metrics.value("postflow_frameio_requests_total", endpoint="upload", status="202") == 2
    assert metrics.value("postflow_frameio_requests_total", endpoint="status", status="429") == 1
    assert metrics.value("postflow_frameio_rate_limit_waits_total", endpoint="status") >= 1  # the paused family
    assert metrics.value("postflow_frameio_rate_limit_wait_seconds_total", endpoint="status") >= 0.2
    assert metrics.value("postflow_event_loop_lag_seconds") is not None


@pytest.mark.asyncio
async def test_a_watcher_serves_no_metrics_by_default(tmp_path):
    async with environment(tmp_path) as env:
        await start_watcher(env)
        service = env.watchers[0].service
        assert service.config.metrics.watcher == "" and service.metrics.port == 0


@pytest.mark.asyncio
async def test_the_last_delivery_is_when_the_file_was_delivered_not_when_its_job_last_changed(tmp_path):
    """An after-delivery action, run later, changes the job: the alert on the last delivery must not move."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    await ledger.open()
    try:
        job = make_job(FileStat("a.mov", 1000, 1, 1)).replace(state=DONE, delivered_at=1_000.0, updated_at=1_000.0,
                                                               after_delivery_due="sidecar")
        (created,), _ = await ledger.register([job], "delivered")
        await ledger.change(created.id, lambda job: after_delivery_ran(job, "after delivery: wrote a.mov.frameio.json"))
        assert (await ledger.get(created.id)).updated_at > 1_000.0
        collector = LedgerMetrics(ledger)
        await collector.refresh()
        registry = CollectorRegistry()
        registry.register(collector)
        assert registry.get_sample_value("postflow_last_delivery_timestamp_seconds", {"pipeline": "default"}) == 1_000.0
    finally:
        await ledger.close()
