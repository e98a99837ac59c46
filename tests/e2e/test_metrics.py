"""Metrics of the real stack (`postflow up`) after uploads: `postflow status` lists where each
service serves them; the watcher's agree with the job API, auth's with its status, the
streamer's with the bytes pulled; and every metric the shipped Grafana dashboard and alert
rules query is one the services export. The address file goes when `postflow up` stops."""

import json
from datetime import datetime

import pytest

from postflow.cli.commands import gather_status
from postflow.cli.supervisor import SERVICES
from postflow.core.clients import Clients
from postflow.core.config import Config, load_config, split_address
from postflow.testing.media import write_media
from postflow.testing.metrics import Scrape, metric_names, scrape, shipped_queries
from postflow.testing.polling import wait_for
from postflow.testing.stack import running_stack
from postflow.v1 import common_pb2, watcher_pb2

pytestmark = pytest.mark.slow
SIZES = [500_000, 500_001]


def seconds(stamp) -> float:
    return stamp.ToNanoseconds() / 1e9


async def after_uploads(config: Config) -> tuple[list[common_pb2.Job], dict, dict[str, Scrape]]:
    """Once both files are delivered: the jobs, `postflow status --json` and each service's scrape."""
    async with Clients(config) as clients:
        async def delivered() -> list[common_pb2.Job] | None:
            jobs = list((await clients.watcher.ListJobs(watcher_pb2.ListJobsRequest(page_size=50), timeout=10)).jobs)
            finished = len(jobs) == len(SIZES) and all(job.state == common_pb2.JOB_STATE_DONE for job in jobs)
            return jobs if finished else None

        jobs = await wait_for(delivered, timeout=60, message="both files delivered")
        status = json.loads(json.dumps(await gather_status(config, clients)))  # as `postflow status --json` prints it
    return jobs, status, {name: await scrape(address) for name, address in status["metrics"].items()}


@pytest.mark.asyncio
async def test_the_services_metrics_agree_with_the_ledger_after_uploads(tmp_path):
    async with running_stack(tmp_path) as stack:
        for i, size in enumerate(SIZES):
            write_media(stack.watch_root / f"SQ01/m{i}.mov", size, seed=i)
        jobs, status, scrapes = await after_uploads(load_config(stack.config_path, env={}))
        assert (stack.state_dir / "run" / "metrics.json").exists()
    assert not (stack.state_dir / "run" / "metrics.json").exists()
    assert set(status["metrics"]) == set(SERVICES)
    for address in status["metrics"].values():
        host, port = split_address(address, "metrics")
        assert host == "127.0.0.1" and port > 0

    metrics = scrapes["watcher"]
    assert metrics.value("postflow_deliveries_total", pipeline="default") == 2
    assert metrics.value("postflow_delivered_bytes_total", pipeline="default") == sum(SIZES)
    assert metrics.value("postflow_jobs", state="done") == 2 == status["jobs"]["done"]
    assert metrics.value("postflow_last_delivery_timestamp_seconds", pipeline="default") == pytest.approx(
        max(seconds(job.updated_at) for job in jobs), abs=1e-3)
    assert metrics.value("postflow_transfer_duration_seconds_count", pipeline="default") == 2

    auth, connection = scrapes["auth"], status["auth"]
    assert auth.value("postflow_auth_state", connection="default", state="connected") == 1
    assert auth.value("postflow_reauth_deadline_timestamp_seconds", connection="default") == pytest.approx(
        datetime.fromisoformat(connection["reauth_deadline"]).timestamp(), abs=1e-3)
    assert auth.value("postflow_access_token_expiry_timestamp_seconds", connection="default") == pytest.approx(
        datetime.fromisoformat(connection["expires_at"]).timestamp(), abs=1e-3)
    assert scrapes["streamer"].value("postflow_tunnel_up") == 1
    assert scrapes["streamer"].value("postflow_served_bytes_total") >= sum(SIZES)
    assert scrapes["dashboard"].value("postflow_dashboard_sse_clients") == 0
    for name, scraped in scrapes.items():
        assert scraped.value("postflow_event_loop_lag_seconds") is not None, name

    exported = set().union(*(scraped.series_names() for scraped in scrapes.values()))
    for where, query in shipped_queries().items():
        assert metric_names(query) <= exported, (where, metric_names(query) - exported)
