"""Fan-out of StreamerEvents to WatchEvents subscribers, on a bounded topic: a subscriber
that falls behind loses its oldest events and never blocks the others."""

from __future__ import annotations

import contextlib
import itertools

from postflow.core.protos import timestamp
from postflow.core.pubsub import Overflow, Subscription, Topic
from postflow.v1 import streamer_pb2


class EventHub:
    def __init__(self, queue_size: int = 512) -> None:
        self._seq = itertools.count(1)
        self._topic: Topic[streamer_pb2.StreamerEvent] = Topic(queue_size, Overflow.DROP_OLDEST,
                                                              name="streamer event subscribers")

    def event(self, **payload) -> streamer_pb2.StreamerEvent:
        return streamer_pb2.StreamerEvent(seq=next(self._seq), at=timestamp(), **payload)

    def transfer(self, progress: streamer_pb2.TransferProgress) -> None:
        """A pull's progress (a push reports to its caller, on the Push call)."""
        self._topic.publish(self.event(transfer=progress))

    def tunnel(self, status: streamer_pb2.TunnelStatus) -> None:
        self._topic.publish(self.event(tunnel=status))

    def close(self) -> None:
        """Ends every subscription after its pending events."""
        self._topic.close()

    def subscribe(self) -> contextlib.AbstractContextManager[Subscription[streamer_pb2.StreamerEvent]]:
        """The events published from now on, for the length of the block."""
        return self._topic.subscribe()
