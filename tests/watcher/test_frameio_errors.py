"""postflow.frameio: 401/429/5xx told apart by status code whatever the body (F9); 5xx and
network errors backed off from 30 s with jitter, bounded, holding nothing shared (F7)."""

import asyncio

import httpx
import pytest
from frameio.core.api_error import ApiError
from frameio.core.parse_error import ParsingError

from postflow.core.config import FrameioConfig
from postflow.frameio import RateLimited, ReconnectNeeded, RequestFailed, TransientError
from postflow.frameio_errors import Answer, classify, error_detail
from postflow.testing.frameio_mock import ManualTime, Tokens, html, mock_client
from postflow.testing.polling import wait_for

ACCOUNT = "a" * 8
STATUS_BODY = {"data": {"filetype": "file", "id": "f1", "upload_complete": True, "upload_failed": False}}
BUCKET = {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "0", "x-ratelimit-window": "1000"}


def test_status_code_decides_whatever_the_exception_class_or_body():
    for exc_type in (ApiError, ParsingError):
        assert classify(exc_type(status_code=401, body="<html>")) is Answer.UNAUTHORIZED
        assert classify(exc_type(status_code=429, body="<html>")) is Answer.RATE_LIMITED
        assert classify(exc_type(status_code=503, body="<html>")) is Answer.SERVER_ERROR
        assert classify(exc_type(status_code=404, body={})) is Answer.REFUSED
        assert classify(exc_type(status_code=200, body={})) is Answer.UNREADABLE
    page = ApiError(status_code=502, body="<html>\n <h1>502</h1>\n</html>")
    assert error_detail(page) == "<html> <h1>502</h1> </html>"


@pytest.mark.asyncio
async def test_an_html_401_refreshes_the_token_once_then_means_reconnect():
    tokens = Tokens()
    client, seen = mock_client([html(401), httpx.Response(200, json=STATUS_BODY)], tokens)
    assert (await client.upload_status(ACCOUNT, "f1")).upload_complete
    assert [r.headers["authorization"] for r in seen] == ["Bearer token-1", "Bearer token-2"]
    assert tokens.calls == [(False, ""), (True, "token-1")]
    client, _ = mock_client([html(401), html(401)])
    with pytest.raises(ReconnectNeeded):
        await client.upload_status(ACCOUNT, "f1")


@pytest.mark.asyncio
async def test_an_html_429_waits_for_the_bucket_then_retries_and_never_fails_the_request():
    time = ManualTime()
    client, seen = mock_client([html(429, BUCKET), httpx.Response(200, json=STATUS_BODY)], sleep=time.sleep,
                               clock=time.clock, rng=lambda: 0.0)
    assert (await client.upload_status(ACCOUNT, "f1")).upload_complete
    assert len(seen) == 2
    assert time.slept and sum(time.slept) == pytest.approx(0.2)  # one slot of 1000 ms / 5
    client, _ = mock_client([html(429, {"Retry-After": "0"})] * 3, rate_limit_retries=2)
    with pytest.raises(RateLimited) as caught:
        await client.upload_status(ACCOUNT, "f1")
    assert caught.value.status == 429


@pytest.mark.asyncio
async def test_an_html_503_is_backed_off_and_retried():
    time = ManualTime()
    client, seen = mock_client([html(503), httpx.Response(200, json=STATUS_BODY)], sleep=time.sleep,
                               clock=time.clock, server_error_backoff_s=30, rng=lambda: 0.0)
    assert (await client.upload_status(ACCOUNT, "f1")).upload_complete
    assert len(seen) == 2 and time.slept == [30.0]


@pytest.mark.asyncio
async def test_parsing_errors_with_401_429_or_5xx_are_handled_like_those_statuses():
    time = ManualTime()
    tokens = Tokens()
    client, _ = mock_client([], tokens, sleep=time.sleep, clock=time.clock, server_error_backoff_s=30,
                            rng=lambda: 0.0)
    failures = [ParsingError(status_code=401, body={"unexpected": 1}),
                ParsingError(status_code=429, body={"unexpected": 1}, headers={"Retry-After": "7"}),
                ParsingError(status_code=502, body={"unexpected": 1})]

    async def flaky(_options):
        if failures:
            raise failures.pop(0)
        return "answered"

    assert await client.call("show", flaky, what="show file") == "answered"
    assert tokens.calls == [(False, ""), (True, "token-1")]
    assert time.slept == [7.0, 30.0]

    async def unreadable(_options):
        raise ParsingError(status_code=200, body={"data": "not a file"})

    with pytest.raises(RequestFailed, match="unexpected response"):
        await client.call("show", unreadable, what="show file")


@pytest.mark.asyncio
async def test_server_errors_back_off_from_30s_doubling_with_jitter_then_give_up():
    assert FrameioConfig().server_error_backoff_s == 30.0
    for draw, expected in ((0.0, [30.0, 60.0, 120.0]), (1.0, [60.0, 120.0, 240.0])):
        time = ManualTime()
        client, seen = mock_client([html(503)] * 4, config=FrameioConfig(api_base_url="http://frameio.test"),
                                   server_error_backoff_s=None, sleep=time.sleep, clock=time.clock,
                                   rng=lambda d=draw: d)
        with pytest.raises(TransientError, match="HTTP 503.*after 4 tries") as caught:
            await client.upload_status(ACCOUNT, "f1")
        assert caught.value.status == 503
        assert len(seen) == 4 and time.slept == expected
    time = ManualTime()
    client, _ = mock_client([html(500)] * 4, sleep=time.sleep, clock=time.clock, server_error_backoff_s=30,
                            server_error_backoff_max_s=100, rng=lambda: 1.0)
    with pytest.raises(TransientError):
        await client.upload_status(ACCOUNT, "f1")
    assert time.slept == [60.0, 100.0, 100.0]


@pytest.mark.asyncio
async def test_network_errors_back_off_on_reads_but_surface_at_once_on_creations():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    time = ManualTime()
    client, seen = mock_client([refuse, httpx.Response(200, json=STATUS_BODY)], sleep=time.sleep, clock=time.clock,
                               server_error_backoff_s=30, rng=lambda: 0.0)
    assert (await client.upload_status(ACCOUNT, "f1")).upload_complete
    assert time.slept == [30.0]
    time = ManualTime()
    client, seen = mock_client([refuse, html(503)], sleep=time.sleep, clock=time.clock)
    with pytest.raises(TransientError, match="ConnectError"):
        await client.create_folder(ACCOUNT, "root", "SQ01")
    with pytest.raises(TransientError, match="HTTP 503"):
        await client.create_folder(ACCOUNT, "root", "SQ01")
    assert len(seen) == 2 and time.slept == []


@pytest.mark.asyncio
async def test_a_call_sleeping_out_a_5xx_holds_up_no_other_call():
    gate = asyncio.Event()
    sleeping: list[float] = []

    async def sleep(seconds):
        sleeping.append(seconds)
        await gate.wait()

    first_answer = {"f1": html(503)}

    def answer(request):
        file_id = request.url.path.split("/")[-2]
        body = {"data": {**STATUS_BODY["data"], "id": file_id}}
        return first_answer.pop(file_id, None) or httpx.Response(200, json=body)

    client, seen = mock_client(answer, sleep=sleep, server_error_backoff_s=30)
    stalled = asyncio.create_task(client.upload_status(ACCOUNT, "f1"))
    await wait_for(lambda: sleeping, message="the 5xx retry to sleep")
    other = await asyncio.wait_for(client.upload_status(ACCOUNT, "f2"), timeout=10)  # same family, same client
    assert other.id == "f2" and not stalled.done()
    gate.set()
    assert (await stalled).id == "f1"
    assert [r.url.path.split("/")[-2] for r in seen] == ["f1", "f2", "f1"]
