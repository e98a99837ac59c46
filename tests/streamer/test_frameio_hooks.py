"""`POST /hooks/frameio/<hook>` on the real streamer's public server, handed to a fake watcher
over real gRPC: the watcher's receipt becomes the HTTP status; a body too large (413), chunked
(411) or for no hook key (404) never reaches the watcher; a watcher that is down or late → 503
within the answer deadline; GET and other methods keep their answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from postflow.testing.fakes.services import FakeServices
from postflow.testing.raw_http import parse_responses, raw_exchange
from postflow.testing.streamer import Streamer, start_streamer, stop_streamer, streamer_config
from postflow.v1 import watcher_pb2
from services.streamer.frameio_hooks import HookLimits

HOOK = "k" * 24
BODY = b'{"type": "file.ready", "resource": {"id": "f1", "type": "file"}}'
Receipt = watcher_pb2.FrameioWebhookReceipt
LIMITS = HookLimits(max_body=4096, body_timeout_s=0.5, answer_timeout_s=0.5, least_answer_s=0.1)


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[FakeServices]:
    async with FakeServices().serving("watcher") as services:
        yield services


@pytest_asyncio.fixture
async def streamer(tmp_path, fakes) -> AsyncIterator[Streamer]:
    config = streamer_config(tmp_path, services={"watcher": fakes.address("watcher")})
    running = await start_streamer(config, hook_limits=LIMITS)
    try:
        yield running
    finally:
        await stop_streamer(running)


async def post(streamer: Streamer, body: bytes = BODY, hook: str = HOOK, **headers: str) -> httpx.Response:
    signed = {"X-Frameio-Request-Timestamp": "1700000000", "X-Frameio-Signature": "v0=abc",
              "User-Agent": "Frame.io V4 API", **headers}
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.post(f"{streamer.base}/hooks/frameio/{hook}", content=body, headers=signed)


@pytest.mark.asyncio
@pytest.mark.parametrize(("outcome", "status"), [
    (Receipt.ACCEPTED, 200), (Receipt.DUPLICATE, 200), (Receipt.IGNORED, 200), (Receipt.BAD_SIGNATURE, 401),
    (Receipt.STALE, 401), (Receipt.UNKNOWN_HOOK, 404), (Receipt.MALFORMED, 400)])
async def test_the_watchers_receipt_becomes_the_status(streamer, fakes, outcome, status):
    fakes.watcher.hook_outcome = outcome
    response = await post(streamer)
    assert response.status_code == status
    (delivery,) = fakes.watcher.hook_deliveries
    assert (delivery.hook, delivery.timestamp, delivery.signature, delivery.body) == (
        HOOK, "1700000000", "v0=abc", BODY)
    assert delivery.remote_address.startswith("127.0.0.1:")


@pytest.mark.asyncio
async def test_the_connection_serves_on_after_a_delivery(streamer, fakes):
    request = (f"POST /hooks/frameio/{HOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n\r\n").encode()
    data = await raw_exchange(streamer.http_port, request + BODY + b"GET /livez HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n\r\n")
    assert [r.status for r in parse_responses(data)] == [200, 200]


@pytest.mark.asyncio
@pytest.mark.parametrize(("field", "status"), [
    ("Content-Length: 4097", 413), ("Transfer-Encoding: chunked", 411), ("X-No-Length: 1", 411)])
async def test_bodies_too_large_chunked_or_of_no_length_are_refused_unread(streamer, fakes, field, status):
    head = f"POST /hooks/frameio/{HOOK} HTTP/1.1\r\nHost: x\r\n{field}\r\n\r\n".encode()
    (response,) = parse_responses(await raw_exchange(streamer.http_port, head))
    assert response.status == status and response.closed
    assert fakes.watcher.hook_deliveries == []


@pytest.mark.asyncio
async def test_a_body_that_does_not_arrive_in_time(streamer, fakes):
    head = f"POST /hooks/frameio/{HOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part".encode()
    (response,) = parse_responses(await raw_exchange(streamer.http_port, head))
    assert response.status == 408 and fakes.watcher.hook_deliveries == []


@pytest.mark.asyncio
async def test_no_hook_key_no_watcher(streamer, fakes):
    assert (await post(streamer, hook="short")).status_code == 404
    assert (await post(streamer, hook="x" * 65)).status_code == 404
    assert fakes.watcher.hook_deliveries == []


@pytest.mark.asyncio
async def test_other_methods_and_paths_keep_their_answers(streamer, fakes):
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{streamer.base}/hooks/frameio/{HOOK}")).status_code == 404
        refused = await client.post(f"{streamer.base}/t/{'a' * 20}", content=b"x")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
        assert (await client.put(f"{streamer.base}/hooks/frameio/{HOOK}", content=b"x")).status_code == 400
    assert fakes.watcher.hook_deliveries == []


@pytest.mark.asyncio
async def test_a_late_watcher_gets_503_within_the_deadline(streamer, fakes):
    fakes.watcher.hook_delay_s = 3.0
    started = time.monotonic()
    response = await post(streamer)
    assert response.status_code == 503 and time.monotonic() - started < LIMITS.answer_timeout_s + 1.0


@pytest.mark.asyncio
async def test_a_body_that_came_slowly_leaves_the_watcher_less_time(streamer, fakes):
    """Frame.io's 5 s run from its sending: time spent on the body is the watcher's no more."""
    fakes.watcher.hook_delay_s = 0.3  # in time for a body that came at once (the receipt tests)
    reader, writer = await asyncio.open_connection("127.0.0.1", streamer.http_port)
    try:
        writer.write(f"POST /hooks/frameio/{HOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(0.35)  # a client trickling its body: 0.15 s of the 0.5 s are left
        writer.write(BODY)
        await writer.drain()
        (response,) = parse_responses(await asyncio.wait_for(reader.read(), 5))
    finally:
        writer.close()
    assert response.status == 503


@pytest.mark.asyncio
async def test_a_watcher_that_is_down_gets_503(streamer, fakes):
    await fakes.stop("watcher")
    response = await post(streamer)
    assert response.status_code == 503 and "retry-after" in response.headers


@pytest.mark.asyncio
async def test_each_refusal_is_one_info_line_without_the_key_or_the_body(streamer, fakes, caplog):
    caplog.set_level(logging.INFO, logger="services.streamer.frameio_hooks")
    await post(streamer, hook="short")
    await post(streamer, body=b"s3cr3t-body" * 400)
    head = f"POST /hooks/frameio/{HOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part".encode()
    await raw_exchange(streamer.http_port, head)
    lines = [r.getMessage() for r in caplog.records if r.name == "services.streamer.frameio_hooks"]
    assert [r.levelno for r in caplog.records if r.name == "services.streamer.frameio_hooks"] == [logging.INFO] * 3
    assert "404" in lines[0] and "413" in lines[1] and "408" in lines[2], lines
    assert all("127.0.0.1:" in line and HOOK not in line and "s3cr3t" not in line for line in lines), lines
