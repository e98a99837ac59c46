"""Long-lived streams from the other services, reconnected with backoff when they drop:
the streamer's events (transfer progress per job, tunnel changes) and the auth status."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from postflow.frameio import backoff_delay
from postflow.v1 import auth_pb2, auth_pb2_grpc, streamer_pb2, streamer_pb2_grpc

log = logging.getLogger(__name__)

RECONNECT_BASE_S = 0.5
RECONNECT_MAX_S = 15.0
TUNNEL_CHANGED = "tunnel-changed"  # put in a job's queue when the public URL changes


async def follow(name: str, open_stream: Callable[[], AsyncIterator[Any]],
                 on_message: Callable[[Any], Awaitable[None] | None]) -> None:
    """Reads `open_stream()` forever, reopening it with backoff whenever it ends or fails."""
    failures = 0
    while True:
        try:
            async for message in open_stream():
                failures = 0
                result = on_message(message)
                if asyncio.iscoroutine(result):
                    await result
        except grpc.RpcError as exc:
            level = logging.INFO if failures else logging.WARNING
            log.log(level, "%s stream: %s; reconnecting", name, exc.details() or exc.code().name)
        failures += 1
        await asyncio.sleep(backoff_delay(failures, RECONNECT_BASE_S, RECONNECT_MAX_S))


class StreamerWatch:
    """The streamer's event stream: the current tunnel, and pull progress routed to jobs (a
    push's progress comes on its own Push call)."""

    def __init__(self, stub: streamer_pb2_grpc.StreamerServiceStub) -> None:
        self.stub = stub
        self.tunnel: streamer_pb2.TunnelStatus | None = None
        self._last_url = ""  # survives the DOWN status between a tunnel's death and its new URL
        self._queues: defaultdict[str, set[asyncio.Queue]] = defaultdict(set)

    async def run(self) -> None:
        await follow("streamer events", lambda: self.stub.WatchEvents(streamer_pb2.WatchStreamerEventsRequest()),
                     self._on_event)

    def _on_event(self, event: streamer_pb2.StreamerEvent) -> None:
        if event.HasField("tunnel"):
            self.tunnel = event.tunnel
            new, old = event.tunnel.public_url, self._last_url
            self._last_url = new or old
            if old and new and new != old:
                log.info("tunnel URL changed; re-issuing pulls in flight")
                for queues in self._queues.values():
                    for queue in queues:
                        queue.put_nowait(TUNNEL_CHANGED)
        elif event.HasField("transfer") and event.transfer.kind == streamer_pb2.TRANSFER_KIND_PULL:
            for queue in self._queues.get(event.transfer.job_id, ()):
                queue.put_nowait(event.transfer)

    def subscribe(self, job_id: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self._queues[job_id].add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue) -> None:
        queues = self._queues.get(job_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[job_id]

    async def tunnel_status(self, timeout_s: float = 5.0, fresh: bool = False) -> streamer_pb2.TunnelStatus | None:
        """The latest tunnel status; asked directly when the stream has not said yet, or when
        `fresh` (the stream may lag behind a tunnel that just died)."""
        if self.tunnel is not None and not fresh:
            return self.tunnel
        try:
            self.tunnel = await self.stub.GetTunnelStatus(streamer_pb2.GetTunnelStatusRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return None
        return self.tunnel


class AuthWatch:
    """Whether Frame.io is connected, from the auth service's status stream. Until the
    stream says otherwise we assume it is (a call will tell us if not). `reconnected` is set
    when it comes back after a reconnect was needed (its waiter clears it)."""

    def __init__(self, stub: auth_pb2_grpc.AuthServiceStub) -> None:
        self.stub = stub
        self.connected = True
        self.reconnected = asyncio.Event()

    async def run(self) -> None:
        await follow("auth status", lambda: self.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest()), self._on_status)

    def _on_status(self, status: auth_pb2.AuthStatus) -> None:
        was = self.connected
        self.connected = status.state == auth_pb2.AUTH_STATE_CONNECTED
        if self.connected and not was:
            log.info("Frame.io connected; resuming jobs that waited for it")
            self.reconnected.set()

    def lost(self) -> None:
        """A call said a reconnect is needed."""
        self.connected = False
