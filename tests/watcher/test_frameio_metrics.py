"""FrameioClient's meter: each answer by call family and status (a network error too), and the
time a call was held back by the pacing after a 429; nothing counted as a wait otherwise."""

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from postflow.frameio_metrics import FrameioMeter
from postflow.testing.frameio_mock import ManualTime, mock_client
from postflow.testing.metrics import Scrape

STATUS_BODY = {"data": {"filetype": "file", "id": "f1", "upload_complete": True, "upload_failed": False}}


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.asyncio
async def test_every_answer_and_every_wait_is_counted_by_call_family():
    registry, time = CollectorRegistry(), ManualTime()
    answers = [httpx.Response(429, json={"errors": []}, headers={"retry-after": "3"}), refused,
               httpx.Response(200, json=STATUS_BODY), httpx.Response(200, json=STATUS_BODY)]
    client, seen = mock_client(answers, sleep=time.sleep, clock=time.clock, meter=FrameioMeter(registry))
    await client.upload_status("a" * 8, "f1")
    await client.show_file("a" * 8, "f1")
    metrics = Scrape.parse(generate_latest(registry).decode())
    assert len(seen) == 4
    assert metrics.value("postflow_frameio_requests_total", endpoint="status", status="429") == 1
    assert metrics.value("postflow_frameio_requests_total", endpoint="status", status="network_error") == 1
    assert metrics.value("postflow_frameio_requests_total", endpoint="status", status="200") == 1
    assert metrics.value("postflow_frameio_requests_total", endpoint="show", status="200") == 1
    assert metrics.value("postflow_frameio_rate_limit_waits_total", endpoint="status") == 1
    assert metrics.value("postflow_frameio_rate_limit_wait_seconds_total", endpoint="status") == pytest.approx(3)
    assert metrics.value("postflow_frameio_rate_limit_waits_total", endpoint="show") is None
