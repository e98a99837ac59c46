"""The watcher's view of the streamer's event stream: which tunnel changes re-issue pulls, and
which progress reaches a job."""

from __future__ import annotations

import pytest

from postflow.v1 import streamer_pb2
from services.watcher.followers import TUNNEL_CHANGED, StreamerWatch


def tunnel(state: int, url: str = "") -> streamer_pb2.StreamerEvent:
    return streamer_pb2.StreamerEvent(tunnel=streamer_pb2.TunnelStatus(state=state, public_url=url))


def drained(queue) -> list:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


@pytest.mark.asyncio
async def test_a_restarted_tunnel_with_a_new_url_reissues_pulls_even_after_a_down_status():
    watch = StreamerWatch(stub=None)
    queue = watch.subscribe("job-1")
    watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://a.trycloudflare.com"))
    watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_DOWN))
    assert drained(queue) == []
    watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://b.trycloudflare.com"))
    assert drained(queue) == [TUNNEL_CHANGED]
    assert watch.tunnel.public_url == "https://b.trycloudflare.com"


@pytest.mark.asyncio
async def test_the_same_url_coming_back_or_the_first_url_reissues_nothing():
    watch = StreamerWatch(stub=None)
    queue = watch.subscribe("job-1")
    watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://a.example.com"))
    watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_DOWN))
    watch._on_event(tunnel(streamer_pb2.TUNNEL_STATE_UP, "https://a.example.com"))
    assert drained(queue) == []


@pytest.mark.asyncio
async def test_only_pull_progress_is_routed_to_a_job_push_progress_comes_on_the_push_call():
    watch = StreamerWatch(stub=None)
    queue = watch.subscribe("job-1")
    pull = streamer_pb2.TransferProgress(job_id="job-1", kind=streamer_pb2.TRANSFER_KIND_PULL, bytes_done=5)
    push = streamer_pb2.TransferProgress(job_id="job-1", kind=streamer_pb2.TRANSFER_KIND_PUSH, bytes_done=7)
    watch._on_event(streamer_pb2.StreamerEvent(transfer=push))
    watch._on_event(streamer_pb2.StreamerEvent(transfer=pull))
    assert drained(queue) == [pull]
