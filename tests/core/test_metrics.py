"""postflow.core.metrics: a service's registry served at /metrics in the text format, with the
event-loop lag; off unless an address is configured; a bad address names its key."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client import Counter
from prometheus_client.parser import text_string_to_metric_families

from postflow.core.config import ConfigError, build_config
from postflow.core.metrics import Metrics
from postflow.testing.polling import wait_for

SERVICES = ("auth", "watcher", "streamer", "dashboard")


def values(text: str) -> dict[str, float]:
    """Every sample of a scrape by name (labels left out: these metrics have none)."""
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples}


@pytest.mark.asyncio
async def test_metrics_are_off_unless_an_address_is_given():
    config = build_config({})
    for name in SERVICES:
        metrics = Metrics.of(config, name)
        assert metrics.address == "" and metrics.key == f"metrics.{name}"
        await metrics.start()
        assert metrics.port == 0
        await metrics.stop()


def test_a_bad_address_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"^metrics\.watcher: expected HOST:PORT, got 'localhost'$"):
        build_config({"metrics": {"watcher": "localhost"}})
    assert build_config({"metrics": {"streamer": "0.0.0.0:9464"}}).metrics.streamer == "0.0.0.0:9464"


@pytest.mark.asyncio
async def test_the_registry_is_served_in_the_text_format_after_each_refresh():
    metrics = Metrics("127.0.0.1:0")
    scraped = Counter("postflow_test_scrapes", "refreshes run", registry=metrics.registry)

    async def refresh() -> None:
        scraped.inc()

    metrics.before_scrape(refresh)
    await metrics.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics.port}") as client:
            first = await client.get("/metrics")
            second = await client.get("/metrics?name[]=x")
    finally:
        await metrics.stop()
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain; version=")
    assert values(first.text)["postflow_test_scrapes_total"] == 1
    assert values(second.text)["postflow_test_scrapes_total"] == 2
    assert "postflow_event_loop_lag_seconds" in values(second.text)


@pytest.mark.asyncio
async def test_other_paths_and_methods_are_refused_and_head_has_no_body():
    metrics = Metrics("127.0.0.1:0")
    await metrics.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics.port}") as client:
            assert (await client.get("/")).status_code == 404
            refused = await client.post("/metrics")
            head = await client.head("/metrics")
    finally:
        await metrics.stop()
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0


@pytest.mark.asyncio
async def test_a_failed_refresh_fails_that_scrape_only():
    metrics = Metrics("127.0.0.1:0")
    failures = [RuntimeError("ledger busy")]

    async def refresh() -> None:
        if failures:
            raise failures.pop()

    metrics.before_scrape(refresh)
    await metrics.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics.port}") as client:
            assert (await client.get("/metrics")).status_code == 500
            assert (await client.get("/metrics")).status_code == 200
    finally:
        await metrics.stop()


@pytest.mark.asyncio
async def test_the_event_loop_lag_shows_a_blocked_loop_and_stop_closes_the_port():
    metrics = Metrics("127.0.0.1:0", lag_interval_s=0.01)
    await metrics.start()
    port = metrics.port
    try:
        await asyncio.sleep(0.02)
        time.sleep(0.2)  # a callback holding the loop up, on purpose

        async def lag() -> float | None:
            body, _ = await metrics.render()
            seen = values(body.decode())["postflow_event_loop_lag_seconds"]
            return seen if seen >= 0.15 else None

        assert await wait_for(lag, timeout=5, message="the lag measured") < 1
    finally:
        await metrics.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
