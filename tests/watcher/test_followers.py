"""The watcher's view of the streamer's event stream: which tunnel changes re-issue pulls,
which progress reaches a job, and what the alerts hear of the tunnel."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from postflow.testing.polling import wait_for
from postflow.v1 import streamer_pb2
from services.watcher.followers import JOB_EVENTS_BUFFERED, TUNNEL_CHANGED, StreamerWatch


def tunnel(state: int, url: str = "") -> streamer_pb2.StreamerEvent:
    return streamer_pb2.StreamerEvent(tunnel=streamer_pb2.TunnelStatus(state=state, public_url=url))


async def drained(events) -> list:
    return [await events.get() for _ in range(len(events))]


@pytest.mark.asyncio
async def test_a_restarted_tunnel_with_a_new_url_reissues_pulls_even_after_a_down_status():
    watch = StreamerWatch(stub=None)
    with watch.subscribe("job-1") as events:
        watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://a.trycloudflare.com"))
        watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_DOWN))
        assert await drained(events) == []
        watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://b.trycloudflare.com"))
        assert await drained(events) == [TUNNEL_CHANGED]
    assert watch.tunnel.public_url == "https://b.trycloudflare.com"


@pytest.mark.asyncio
async def test_the_same_url_coming_back_or_the_first_url_reissues_nothing():
    watch = StreamerWatch(stub=None)
    with watch.subscribe("job-1") as events:
        watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://a.example.com"))
        watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_DOWN))
        watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://a.example.com"))
        assert await drained(events) == []


@pytest.mark.asyncio
async def test_only_pull_progress_is_routed_to_a_job_push_progress_comes_on_the_push_call():
    watch = StreamerWatch(stub=None)
    pull = streamer_pb2.TransferProgress(job_id="job-1", kind=streamer_pb2.TRANSFER_KIND_PULL, bytes_done=5)
    push = streamer_pb2.TransferProgress(job_id="job-1", kind=streamer_pb2.TRANSFER_KIND_PUSH, bytes_done=7)
    with watch.subscribe("job-1") as events:
        watch._on_event(streamer_pb2.StreamerEvent(transfer=push))
        watch._on_event(streamer_pb2.StreamerEvent(transfer=pull))
        assert await drained(events) == [pull]


def pull_progress(job_id: str, bytes_done: int) -> streamer_pb2.StreamerEvent:
    return streamer_pb2.StreamerEvent(transfer=streamer_pb2.TransferProgress(
        job_id=job_id, kind=streamer_pb2.TRANSFER_KIND_PULL, bytes_done=bytes_done))


@pytest.mark.asyncio
async def test_each_job_gets_only_its_own_progress_and_a_job_that_lags_keeps_the_latest():
    watch = StreamerWatch(stub=None)
    with watch.subscribe("job-1") as first, watch.subscribe("job-2") as second:
        for done in range(JOB_EVENTS_BUFFERED + 10):
            watch._on_event(pull_progress("job-1", done))
        watch._on_event(pull_progress("job-2", 7))
        watch._on_event(pull_progress("job-3", 9))  # nobody follows it: dropped
        received = [event.bytes_done for event in await drained(first)]
        assert received == list(range(10, JOB_EVENTS_BUFFERED + 10))
        assert [event.bytes_done for event in await drained(second)] == [7]
    assert watch._jobs == {}, "a job nobody follows keeps no buffer"


@pytest.mark.asyncio
async def test_every_tunnel_status_is_told_and_a_lost_streamer_is_a_tunnel_down():
    class Unreachable:
        def WatchEvents(self, request):
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                       "connection refused")

    told: list[streamer_pb2.TunnelStatus] = []
    watch = StreamerWatch(stub=Unreachable(), on_tunnel=told.append)
    watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://a.example.com"))
    following = asyncio.create_task(watch.run())
    await wait_for(lambda: len(told) >= 2, message="the lost stream told")
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    assert told[0].state == streamer_pb2.TUNNEL_STATE_UP and told[1].state == streamer_pb2.TUNNEL_STATE_DOWN
    assert told[1].message == "the streamer does not answer (connection refused)"
    assert watch.tunnel.state == streamer_pb2.TUNNEL_STATE_UP  # what the streamer said last stays its tunnel
