"""Following a server stream: reopened with backoff after it ends, after a gRPC error and
after a handler's bug; `on_connect` before each opening, `on_disconnect` with the reason."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from postflow.core.backoff import Backoff
from postflow.core.streams import follow
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class Upstream:
    """Opening n plays script n: its messages, raising the error in it if any, else the stream
    ends; the last script is played again by later openings, and then stays open."""

    def __init__(self, *scripts: list) -> None:
        self.scripts = scripts
        self.openings = 0

    def open(self):
        index = min(self.openings, len(self.scripts) - 1)
        self.openings += 1
        return self._play(self.scripts[index], stay_open=index == len(self.scripts) - 1)

    async def _play(self, script: list, stay_open: bool):
        for item in script:
            if isinstance(item, BaseException):
                raise item
            yield item
        if stay_open:
            await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def following(*args, **kwargs):
    task = asyncio.create_task(follow(*args, **kwargs))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def fast_backoff() -> Backoff:
    return Backoff(0.01, 0.05, jitter=0)


@pytest.mark.asyncio
async def test_messages_reach_the_handler_sync_or_async():
    received = []

    async def on_message(message: int) -> None:
        await asyncio.sleep(0)
        received.append(message)

    upstream = Upstream([1, 2, 3])
    async with following("numbers", upstream.open, on_message, fast_backoff()):
        await wait_for(lambda: received == [1, 2, 3], message="three messages")
    assert upstream.openings == 1


@pytest.mark.asyncio
async def test_a_stream_that_fails_or_ends_is_reopened_and_the_reason_told():
    received, reasons, connects = [], [], []

    async def on_connect() -> None:
        connects.append(len(connects))

    upstream = Upstream([1, rpc_error(grpc.StatusCode.UNAVAILABLE, "streamer restarting")], [], [2])
    async with following("numbers", upstream.open, received.append, fast_backoff(), on_connect=on_connect,
                         on_disconnect=reasons.append):
        await wait_for(lambda: received == [1, 2], message="messages from the third opening")
    assert reasons == ["streamer restarting", "the stream ended"]
    assert len(connects) == upstream.openings == 3


@pytest.mark.asyncio
async def test_a_failing_probe_counts_as_a_failed_connection():
    reasons, attempts = [], []

    async def on_connect() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "")

    received = []
    upstream = Upstream(["hello"])
    async with following("probe", upstream.open, received.append, fast_backoff(), on_connect=on_connect,
                         on_disconnect=reasons.append):
        await wait_for(lambda: received == ["hello"], message="the message after two failed probes")
    assert reasons == ["deadline_exceeded", "deadline_exceeded"]
    assert upstream.openings == 1


@pytest.mark.asyncio
async def test_a_bug_in_the_handler_reconnects_instead_of_ending_the_following(caplog):
    received = []

    def on_message(message: int) -> None:
        if message == 1 and 1 not in received:
            received.append(1)
            raise KeyError("bug")
        received.append(message)

    upstream = Upstream([1], [2])
    async with following("buggy", upstream.open, on_message, fast_backoff()):
        await wait_for(lambda: 2 in received, message="the stream reopened after the bug")
    assert "buggy stream failed" in caplog.text


@pytest.mark.asyncio
async def test_the_wait_between_openings_grows_while_it_keeps_failing():
    backoff = Backoff(0.01, 1.0, jitter=0)
    upstream = Upstream([rpc_error(grpc.StatusCode.UNAVAILABLE, "down")])
    async with following("down", upstream.open, print, backoff):
        await wait_for(lambda: backoff.failures >= 4, message="four failures")
    assert backoff.failures >= 4


@pytest.mark.asyncio
@pytest.mark.parametrize("healthy", [True, False])
async def test_a_connection_that_lasted_resets_the_backoff(healthy):
    now = [0.0]
    backoff = Backoff(0.01, 1.0, jitter=0, reset_after_s=10.0, clock=lambda: now[0])
    backoff.failures = 5  # it had been flapping before this connection
    opened, drop = asyncio.Event(), asyncio.Event()

    async def drop_after_a_while():
        opened.set()
        await drop.wait()
        raise rpc_error(grpc.StatusCode.UNAVAILABLE, "gone")
        yield

    upstream = Upstream(["up"])
    streams = iter([drop_after_a_while(), upstream.open()])
    seen = []
    async with following("reset", lambda: next(streams), seen.append, backoff):
        await asyncio.wait_for(opened.wait(), 5)
        now[0] += 10.0 if healthy else 1.0
        drop.set()
        await wait_for(lambda: seen == ["up"], message="reconnected")
    assert backoff.failures == (1 if healthy else 6)


async def health_server(address: str) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(address)
    await server.start()
    return server, servicer


@pytest.mark.asyncio
async def test_a_real_server_stream_is_followed_through_a_server_restart():
    address = f"127.0.0.1:{free_port()}"
    statuses, reasons = [], []
    server, servicer = await health_server(address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            async with following("health", lambda: stub.Watch(health_pb2.HealthCheckRequest(service="x")),
                                 lambda response: statuses.append(response.status), fast_backoff(),
                                 on_disconnect=reasons.append):
                await servicer.set("x", SERVING)
                await wait_for(lambda: SERVING in statuses, message="SERVING from the first server")
                await server.stop(0)
                await wait_for(lambda: reasons, message="the loss noticed")
                statuses.clear()
                server, servicer = await health_server(address)
                await servicer.set("x", SERVING)
                await wait_for(lambda: SERVING in statuses, timeout=20, message="SERVING from the restarted server")
    finally:
        await server.stop(0)
