"""Fan-out of StreamerEvents to WatchEvents subscribers. Each subscriber has a bounded
queue; a subscriber that falls behind loses its oldest events, never blocks the others."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterator

from postflow.core.protos import timestamp
from postflow.v1 import streamer_pb2

log = logging.getLogger(__name__)


class EventHub:
    def __init__(self, queue_size: int = 512) -> None:
        self.queue_size = queue_size
        self._seq = itertools.count(1)
        self._queues: set[asyncio.Queue[streamer_pb2.StreamerEvent | None]] = set()

    def event(self, **payload) -> streamer_pb2.StreamerEvent:
        return streamer_pb2.StreamerEvent(seq=next(self._seq), at=timestamp(), **payload)

    def transfer(self, progress: streamer_pb2.TransferProgress) -> None:
        """A pull's progress (a push reports to its caller, on the Push call)."""
        self.publish(self.event(transfer=progress))

    def tunnel(self, status: streamer_pb2.TunnelStatus) -> None:
        self.publish(self.event(tunnel=status))

    def close(self) -> None:
        """Ends every subscription (each gets None after its pending events)."""
        self.publish(None)

    def publish(self, event: streamer_pb2.StreamerEvent | None) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                log.debug("event subscriber is behind; dropped its oldest event")
            queue.put_nowait(event)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[streamer_pb2.StreamerEvent | None]]:
        queue: asyncio.Queue[streamer_pb2.StreamerEvent | None] = asyncio.Queue(self.queue_size)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
