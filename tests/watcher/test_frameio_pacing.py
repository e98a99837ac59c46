"""postflow.frameio_limits: pacing from `x-ratelimit-*` before a 429, and the wait after one (F14)."""

import httpx
import pytest

from postflow.frameio_limits import BucketReport, RateLimiter, bucket_report
from postflow.testing.frameio_mock import ManualTime, html, mock_client

ACCOUNT = "a" * 8
STATUS_BODY = {"data": {"filetype": "file", "id": "f1", "upload_complete": True, "upload_failed": False}}


def bucket(limit: int, remaining: int, window_ms: int) -> dict[str, str]:
    return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-window": str(window_ms)}


def limiter(calls: int = 100, per_s: float = 60.0) -> tuple[RateLimiter, ManualTime]:
    time = ManualTime()
    return RateLimiter(calls, per_s, clock=time.clock, sleep=time.sleep), time


def test_bucket_report_reads_the_three_headers_or_nothing():
    assert bucket_report(bucket(10, 3, 1500)) == BucketReport(10, 3, 1.5)
    assert bucket_report({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
                          "X-RateLimit-Window": "60000"}) == BucketReport(10, 0, 60.0)
    assert bucket_report({"x-ratelimit-limit": "10", "x-ratelimit-remaining": "3"}) is None
    assert bucket_report(bucket(0, 0, 1000)) is None and bucket_report(None) is None
    assert bucket_report({**bucket(10, 3, 1000), "x-ratelimit-remaining": "-1"}) is None


@pytest.mark.asyncio
async def test_an_empty_bucket_makes_the_next_call_wait_one_slot_not_a_window():
    paced, time = limiter()
    await paced.acquire()
    paced.answered(bucket(10, 0, 1000))
    await paced.acquire()
    assert time.slept == [pytest.approx(0.1)]


@pytest.mark.asyncio
async def test_the_bucket_drains_continuously_between_answers():
    paced, time = limiter()
    await paced.acquire()
    paced.answered(bucket(10, 0, 1000))
    time.clock.now += 0.5  # five slots drain
    for _ in range(5):
        await paced.acquire()
    assert time.slept == []
    await paced.acquire()
    assert time.slept == [pytest.approx(0.1)]


@pytest.mark.asyncio
async def test_calls_still_in_flight_count_against_the_reported_room():
    paced, time = limiter()
    for _ in range(3):
        await paced.acquire()
    paced.answered(bucket(10, 2, 1000))  # two calls still unanswered may not be counted yet
    await paced.acquire()
    assert time.slept == [pytest.approx(0.1)]


@pytest.mark.asyncio
async def test_the_documented_limit_holds_even_when_the_headers_report_room():
    paced, time = limiter(calls=2, per_s=1.0)
    await paced.acquire()
    paced.answered(bucket(100, 99, 1000))
    await paced.acquire()
    await paced.acquire()
    assert time.slept == [pytest.approx(1.05)]  # the window, padded 5 %


@pytest.mark.asyncio
async def test_a_pause_after_a_429_holds_every_call_of_the_family():
    paced, time = limiter()
    paced.pause(2.0)
    await paced.acquire()
    await paced.acquire()
    assert time.slept == [pytest.approx(2.0)]


def test_a_429_without_retry_after_waits_one_to_two_slots_doubling_up_to_the_window():
    paced, _ = limiter()
    paced.answered(bucket(10, 0, 1000))
    assert paced.rate_limited_wait_s(1, bucket(10, 0, 1000), rng=lambda: 0.0) == pytest.approx(0.1)
    assert paced.rate_limited_wait_s(1, bucket(10, 0, 1000), rng=lambda: 1.0) == pytest.approx(0.2)
    assert paced.rate_limited_wait_s(2, bucket(10, 0, 1000), rng=lambda: 0.0) == pytest.approx(0.2)
    assert paced.rate_limited_wait_s(9, bucket(10, 0, 1000), rng=lambda: 1.0) == pytest.approx(1.0)
    assert paced.rate_limited_wait_s(1, {"Retry-After": "3", **bucket(10, 0, 1000)}, rng=lambda: 0.0) == 3.0
    documented, _ = limiter(calls=100, per_s=60.0)  # no headers seen yet: the documented slot, 0.6 s
    assert documented.rate_limited_wait_s(1, {}, rng=lambda: 0.0) == pytest.approx(0.6)


@pytest.mark.asyncio
async def test_the_client_paces_from_each_answers_headers_before_any_429():
    time = ManualTime()
    answers = [httpx.Response(200, json=STATUS_BODY, headers=bucket(4, 0, 1000)),
               httpx.Response(200, json=STATUS_BODY, headers=bucket(4, 3, 1000))]
    client, seen = mock_client(answers, sleep=time.sleep, clock=time.clock)
    await client.upload_status(ACCOUNT, "f1")
    assert time.slept == []
    await client.upload_status(ACCOUNT, "f1")
    assert time.slept == [pytest.approx(0.25)] and len(seen) == 2


@pytest.mark.asyncio
async def test_a_429_on_a_per_minute_endpoint_waits_about_a_slot_not_the_minute():
    time = ManualTime()
    client, seen = mock_client([html(429, bucket(100, 0, 60000)), httpx.Response(200, json=STATUS_BODY)],
                               sleep=time.sleep, clock=time.clock)
    await client.upload_status(ACCOUNT, "f1")
    assert len(seen) == 2
    assert 0.6 <= sum(time.slept) <= 1.2
