"""Fan-out of typed dashboard events to SSE clients.

Every event gets an id `<epoch>-<seq>`; the epoch changes with each dashboard process, so an
id from an earlier process never resumes into this one. A short history lets a client that
reconnects with `Last-Event-ID` receive only what it missed; otherwise it gets a snapshot.
Each client has a bounded queue: a client that falls that far behind is dropped (its queue
is emptied and it receives None), never buffered without limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sse_starlette import ServerSentEvent

log = logging.getLogger(__name__)

HISTORY = 1000
QUEUE_SIZE = 256


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    frame: bytes  # the encoded SSE frame, shared by every client


class Subscriber:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.dropped = False

    async def next(self) -> Event | None:
        """The next event; None once the client was dropped or the dashboard is stopping."""
        return await self.queue.get()

    def offer(self, event: Event) -> bool:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def close(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class Broadcaster:
    def __init__(self, history: int = HISTORY, queue_size: int = QUEUE_SIZE) -> None:
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.queue_size = queue_size
        self.dropped = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: set[Subscriber] = set()
        self._closed = False

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def publish(self, type_: str, data: object) -> Event:
        self.seq += 1
        event = self._event(type_, data)
        self._history.append(event)
        self._deliver(event)
        return event

    def reset(self, snapshot: dict) -> None:
        """Replaces every client's view with `snapshot`; earlier ids no longer resume (a
        reconnecting client gets a fresh snapshot instead of a replay across the reset)."""
        self.seq += 1
        self._history.clear()
        self._deliver(self._event("snapshot", snapshot))

    def subscribe(self, last_event_id: str, snapshot: Callable[[], dict]) -> tuple[Subscriber, list[Event]]:
        """A new client and what it must receive first: the events after `last_event_id` if
        they are all still known, else a snapshot of the current state."""
        missed = self._missed_since(last_event_id)
        first = missed if missed is not None else [self._event("snapshot", snapshot())]
        subscriber = Subscriber(self.queue_size)
        if self._closed:
            subscriber.close()
        else:
            self._subscribers.add(subscriber)
        return subscriber, first

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def close(self) -> None:
        """Ends every client's stream, now and for clients that arrive later (shutdown)."""
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.close()
        self._subscribers.clear()

    def _event(self, type_: str, data: object) -> Event:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        frame = ServerSentEvent(body, event=type_, id=f"{self.epoch}-{self.seq}").encode()
        return Event(self.seq, type_, frame)

    def _deliver(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            if not subscriber.offer(event):
                self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.dropped = True
        subscriber.close()
        self.dropped += 1
        log.info("dropped a slow SSE client (%d events behind); it will resume from its last event id",
                 self.queue_size)

    def _missed_since(self, last_event_id: str) -> list[Event] | None:
        epoch, _, seq_text = last_event_id.rpartition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        oldest = self._history[0].seq if self._history else self.seq + 1
        if seq > self.seq or seq < oldest - 1:
            return None
        return [event for event in self._history if event.seq > seq]
