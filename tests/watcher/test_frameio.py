"""postflow.frameio: tokens, 401 refresh, 429 Retry-After, 5xx backoff, limits, errors (JSON bodies)."""

import time

import httpx
import pytest

from postflow.core.backoff import backoff_delay
from postflow.frameio import (
    RateLimiter,
    ReconnectNeeded,
    RequestFailed,
    TransientError,
    next_cursor,
)
from postflow.frameio_limits import retry_after_s
from postflow.testing.frameio_mock import Tokens, mock_client

ACCOUNT = "a" * 8
STATUS_PATH = f"/v4/accounts/{ACCOUNT}/files/f1/status"
STATUS_BODY = {"data": {"filetype": "file", "id": "f1", "upload_complete": True, "upload_failed": False}}


@pytest.mark.asyncio
async def test_uses_token_and_retries_once_after_401_with_a_forced_refresh():
    tokens = Tokens()
    client, seen = mock_client([httpx.Response(401, json={"errors": [{"detail": "expired"}]}),
                                httpx.Response(200, json=STATUS_BODY)], tokens)
    status = await client.upload_status(ACCOUNT, "f1")
    assert status.upload_complete
    assert [r.headers["authorization"] for r in seen] == ["Bearer token-1", "Bearer token-2"]
    assert tokens.calls == [(False, ""), (True, "token-1")]
    assert seen[0].url.path == STATUS_PATH


@pytest.mark.asyncio
async def test_a_second_401_means_reconnect():
    client, _ = mock_client([httpx.Response(401, json={}), httpx.Response(401, json={})])
    with pytest.raises(ReconnectNeeded):
        await client.upload_status(ACCOUNT, "f1")


@pytest.mark.asyncio
async def test_429_waits_for_retry_after():
    client, seen = mock_client([httpx.Response(429, headers={"Retry-After": "0.3"}, json={}),
                                httpx.Response(200, json=STATUS_BODY)])
    started = time.monotonic()
    await client.upload_status(ACCOUNT, "f1")
    assert time.monotonic() - started >= 0.3
    assert len(seen) == 2


@pytest.mark.asyncio
async def test_5xx_backs_off_then_succeeds_and_gives_up_when_bounded():
    client, seen = mock_client([httpx.Response(503, json={}), httpx.Response(502, text="bad gateway"),
                                httpx.Response(200, json=STATUS_BODY)])
    assert (await client.upload_status(ACCOUNT, "f1")).upload_complete
    assert len(seen) == 3
    client, seen = mock_client([httpx.Response(500, json={})] * 3, max_retries=2)
    with pytest.raises(TransientError, match="HTTP 500"):
        await client.upload_status(ACCOUNT, "f1")
    assert len(seen) == 3


@pytest.mark.asyncio
async def test_network_errors_are_retried():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    client, seen = mock_client([refuse, httpx.Response(200, json=STATUS_BODY)])
    assert (await client.upload_status(ACCOUNT, "f1")).upload_complete


@pytest.mark.asyncio
async def test_creations_are_not_retried_after_a_5xx_but_are_after_a_429():
    client, seen = mock_client([httpx.Response(500, json={})])
    with pytest.raises(TransientError):
        await client.create_folder(ACCOUNT, "root", "SQ01")
    assert len(seen) == 1
    folder = {"data": {"id": "d1", "name": "SQ01", "type": "folder", "restricted": False, "project_id": "p",
                       "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
                       "view_url": "http://v"}}
    client, seen = mock_client([httpx.Response(429, headers={"Retry-After": "0"}, json={}),
                                httpx.Response(201, json=folder)])
    assert (await client.create_folder(ACCOUNT, "root", "SQ01")).id == "d1"
    assert seen[1].read() == b'{"data":{"name":"SQ01"}}'


@pytest.mark.asyncio
async def test_4xx_is_a_readable_request_failure():
    client, _ = mock_client([httpx.Response(404, json={"errors": [{"title": "Not Found", "detail": "no file f1"}]})])
    with pytest.raises(RequestFailed, match="no file f1") as caught:
        await client.upload_status(ACCOUNT, "f1")
    assert caught.value.status == 404


@pytest.mark.asyncio
async def test_reconnect_needed_comes_from_the_token_source():
    client, seen = mock_client([], Tokens(fail=ReconnectNeeded("Frame.io reconnect needed")))
    with pytest.raises(ReconnectNeeded):
        await client.upload_status(ACCOUNT, "f1")
    assert seen == []


@pytest.mark.asyncio
async def test_rate_limiter_never_sends_more_than_the_documented_limit_in_any_window():
    limiter = RateLimiter(5, 0.3)
    sent = []
    for _ in range(12):
        await limiter.acquire()
        sent.append(time.monotonic())
    assert all(later - earlier >= 0.3 for earlier, later in zip(sent, sent[5:], strict=False))
    assert sent[-1] - sent[0] < 1.2


def test_backoff_grows_with_jitter_and_is_bounded():
    assert backoff_delay(1, 2.0, 300, rng=lambda: 1.0) == 2.0
    assert backoff_delay(1, 2.0, 300, rng=lambda: 0.0) == 1.0
    assert backoff_delay(4, 2.0, 300, rng=lambda: 1.0) == 16.0
    assert backoff_delay(30, 2.0, 300, rng=lambda: 1.0) == 300.0
    delays = {backoff_delay(3, 2.0, 300) for _ in range(20)}
    assert len(delays) > 1 and all(4.0 <= d <= 8.0 for d in delays)


def test_retry_after_sources():
    assert retry_after_s({"Retry-After": "3"}) == 3.0
    assert retry_after_s({"x-ratelimit-window": "1500"}) is None  # the window is for pacing, not a 429's wait
    assert retry_after_s({}) is None and retry_after_s({"retry-after": "soon"}) is None
    assert 0 <= retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) < 1


def test_next_cursor():
    assert next_cursor("/v4/accounts/a/folders/f/children?after=abc%3D&page_size=100") == "abc="
    assert next_cursor(None) is None and next_cursor("/v4/x") is None
