"""`/api/history` against the fake watcher: the range, bucket and pipelines it asks GetHistory
for, the JSON it makes of the answer, and a 400 naming each parameter it cannot use; the
analytics page and the web app manifest with its icons are public, like the page shell."""

import struct
import time

import pytest

from postflow.core.protos import timestamp, to_seconds
from postflow.v1 import watcher_pb2

T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
HOUR = watcher_pb2.HISTORY_BUCKET_SIZE_HOUR


def counts(pipeline: str = "", deliveries: int = 0, size: int = 0, failures: int = 0, median_s: float = 0.0,
           p95_s: float = 0.0) -> watcher_pb2.HistoryCounts:
    return watcher_pb2.HistoryCounts(pipeline=pipeline, deliveries=deliveries, bytes=size, failures=failures,
                                     median_s=median_s, p95_s=p95_s)


@pytest.mark.asyncio
async def test_history_asks_the_watcher_for_the_range_and_answers_its_buckets(fakes, http):
    shows = counts("shows", 2, 3000, 0, 12.5, 20.0)
    fakes.watcher.history = watcher_pb2.GetHistoryResponse(
        buckets=[watcher_pb2.HistoryBucket(start=timestamp(T0), all=counts(), pipelines=[]),
                 watcher_pb2.HistoryBucket(start=timestamp(T0 + 3600), all=counts("", 2, 3000, 1, 12.5, 20.0),
                                           pipelines=[shows, counts("ads", failures=1)])],
        all=counts("", 2, 3000, 1, 12.5, 20.0), pipelines=[counts("ads", failures=1), shows],
        failure_causes=[watcher_pb2.FailureCause(cause="no progress for N", pipeline="ads", count=1,
                                                 example="no progress for 60s", last_at=timestamp(T0 + 4000))],
        capped=True)
    response = await http.get("/api/history", params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T02:00:00",
                                                      "bucket": "hour", "pipeline": ["shows", "ads,promos"]})
    assert response.status_code == 200, response.text
    asked = fakes.watcher.history_requests[-1]
    assert (to_seconds(asked.start), to_seconds(asked.end), asked.bucket) == (T0, T0 + 7200, HOUR)
    assert list(asked.pipelines) == ["shows", "ads", "promos"]
    body = response.json()
    assert (body["from"], body["to"], body["bucket_s"], body["capped"]) == (
        "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z", 3600, True)
    assert body["buckets"][0] == {"start": "2026-01-01T00:00:00Z", "deliveries": 0, "bytes": 0, "failures": 0,
                                  "median_s": None, "p95_s": None, "pipelines": {}}, "no deliveries: no times"
    assert body["buckets"][1]["pipelines"]["shows"] == {"deliveries": 2, "bytes": 3000, "failures": 0,
                                                        "median_s": 12.5, "p95_s": 20.0}
    assert body["total"]["deliveries"] == 2 and list(body["pipelines"]) == ["ads", "shows"]
    assert body["failure_causes"] == [{"cause": "no progress for N", "pipeline": "ads", "count": 1,
                                       "example": "no progress for 60s", "last_at": "2026-01-01T01:06:40Z"}]

    before = time.time()
    assert (await http.get("/api/history", params={"bucket": "DAY"})).status_code == 200
    asked = fakes.watcher.history_requests[-1]
    assert to_seconds(asked.end) >= before and to_seconds(asked.end) - to_seconds(asked.start) == 24 * 3600
    assert asked.bucket == watcher_pb2.HISTORY_BUCKET_SIZE_DAY and list(asked.pipelines) == []


@pytest.mark.asyncio
@pytest.mark.parametrize(("params", "error"), [
    ({"from": "yesterday"}, "from: expected an ISO 8601 time"),
    ({"to": "2026-13-01"}, "to: expected an ISO 8601 time"),
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to: must be after from"),
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to: at most 1000 buckets of 3600s after from"),
    ({"bucket": "week"}, "bucket: expected hour or day, got 'week'"),
    ({"pipeline": "no/such"}, "pipeline: 'no/such' is not a pipeline name"),
    ({"range": "7d"}, "range: not a parameter of this list"),
    ({"bucket": ["hour", "day"]}, "bucket: given 2 times, expected once"),
])
async def test_history_refuses_a_parameter_it_cannot_use_naming_it(fakes, http, params, error):
    response = await http.get("/api/history", params=params)
    assert response.status_code == 400 and response.json()["error"].startswith(error), response.text
    assert fakes.watcher.history_requests == [], "refused before asking the watcher"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.asyncio
async def test_the_analytics_page_and_the_installable_manifest_with_its_icons(http):
    page = await http.get("/analytics")
    assert page.status_code == 200 and 'src="/static/vendor/uPlot.iife.min.js"' in page.text
    manifest = await http.get("/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert (body["name"], body["start_url"], body["display"]) == ("PostFlow", "/", "standalone")
    sizes = set()
    for icon in body["icons"]:
        got = await http.get(icon["src"])
        assert got.status_code == 200 and got.headers["content-type"] == icon["type"], icon
        if icon["type"] == "image/png":
            width, height = png_size(got.content)
            assert icon["sizes"] == f"{width}x{height}"
            sizes.add(width)
    assert sizes == {192, 512}
    shell = (await http.get("/")).text
    for link in ('rel="manifest" href="/manifest.webmanifest"', 'name="theme-color"', 'rel="apple-touch-icon"'):
        assert link in shell
    assert (await http.get("/static/vendor/uPlot.LICENSE")).text.startswith("The MIT License")
