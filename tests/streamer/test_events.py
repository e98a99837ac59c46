"""The streamer's event hub: numbered events to every WatchEvents subscriber; one that falls
behind keeps the newest; closing ends each subscription after what it has pending."""

from __future__ import annotations

import pytest

from postflow.v1 import streamer_pb2
from services.streamer.events import EventHub


def progress(bytes_done: int) -> streamer_pb2.TransferProgress:
    return streamer_pb2.TransferProgress(job_id="job-1", kind=streamer_pb2.TRANSFER_KIND_PULL, bytes_done=bytes_done)


@pytest.mark.asyncio
async def test_a_subscriber_that_falls_behind_keeps_the_newest_events_and_ends_on_close():
    hub = EventHub(queue_size=3)
    with hub.subscribe() as slow, hub.subscribe() as fast:
        for done in range(1, 6):
            hub.transfer(progress(done))
            assert (await fast.get()).transfer.bytes_done == done
        hub.tunnel(streamer_pb2.TunnelStatus(state=streamer_pb2.TUNNEL_STATE_UP, public_url="https://a.example"))
        hub.close()
        assert [event.seq async for event in fast] == [6]
        behind = [event async for event in slow]
        assert [event.seq for event in behind] == [4, 5, 6] and behind[-1].tunnel.public_url == "https://a.example"
    with hub.subscribe() as late:
        assert await late.get() is None, "a subscription after close ends at once"
