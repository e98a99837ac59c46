"""Fan-out of typed dashboard events to SSE clients, on a bounded topic.

Every event gets an id `<epoch>-<seq>`; the epoch changes with each dashboard process, so an
id from an earlier process never resumes into this one. A short history lets a client that
reconnects with `Last-Event-ID` receive only what it missed; otherwise it gets a snapshot.
A client that falls `queue_size` events behind is dropped (its buffer is released and its
stream ends, so it reconnects and resumes), never buffered without limit.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sse_starlette import ServerSentEvent

from postflow.core.pubsub import Overflow, Subscription, Topic

HISTORY = 1000
QUEUE_SIZE = 256
SCOPED_TYPES = ("job", "log")  # events that may name a pipeline (a log line does when it is about a job)


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    frame: bytes  # the encoded SSE frame, shared by every client
    pipeline: str | None = None  # the pipeline a `job` event (or a job's `log` line) is about


class Broadcaster:
    def __init__(self, history: int = HISTORY, queue_size: int = QUEUE_SIZE) -> None:
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._topic: Topic[Event] = Topic(queue_size, Overflow.DROP_SUBSCRIBER, name="SSE clients")

    @property
    def clients(self) -> int:
        return self._topic.subscribers

    @property
    def dropped(self) -> int:
        return self._topic.dropped

    def publish(self, type_: str, data: object) -> Event:
        self.seq += 1
        event = self._event(type_, data)
        self._history.append(event)
        self._topic.publish(event)
        return event

    def reset(self, snapshot: dict) -> None:
        """Replaces every client's view with `snapshot`; earlier ids no longer resume (a
        reconnecting client gets a fresh snapshot instead of a replay across the reset)."""
        self.seq += 1
        self._history.clear()
        self._topic.publish(self._event("snapshot", snapshot))

    @contextlib.contextmanager
    def subscribe(self, last_event_id: str,
                  snapshot: Callable[[], dict]) -> Iterator[tuple[Subscription[Event], list[Event]]]:
        """A new client, for the length of the block, and what it must receive first: the
        events after `last_event_id` if they are all still known, else a snapshot."""
        missed = self._missed_since(last_event_id)
        first = missed if missed is not None else [self._event("snapshot", snapshot())]
        with self._topic.subscribe() as subscription:
            yield subscription, first

    def close(self) -> None:
        """Ends every client's stream, now and for clients that arrive later (shutdown)."""
        self._topic.close()

    def encode(self, type_: str, data: object, seq: int) -> bytes:
        """The SSE frame of event number `seq` (a client's own version of a shared event, e.g. a scoped snapshot)."""
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return ServerSentEvent(body, event=type_, id=f"{self.epoch}-{seq}").encode()

    def _event(self, type_: str, data: object) -> Event:
        pipeline = data.get("pipeline") if isinstance(data, dict) and type_ in SCOPED_TYPES else None
        return Event(self.seq, type_, self.encode(type_, data, self.seq), pipeline)

    def _missed_since(self, last_event_id: str) -> list[Event] | None:
        epoch, _, seq_text = last_event_id.rpartition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        oldest = self._history[0].seq if self._history else self.seq + 1
        if seq > self.seq or seq < oldest - 1:
            return None
        return [event for event in self._history if event.seq > seq]
