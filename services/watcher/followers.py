"""Long-lived streams from the other services, followed with reconnect and backoff: the
streamer's events (pull progress per job, tunnel changes) and the auth status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

import grpc

from postflow.core.backoff import Backoff
from postflow.core.pipelines import DEFAULT
from postflow.core.pubsub import Overflow, Subscription, Topic
from postflow.core.streams import follow
from postflow.v1 import auth_pb2, auth_pb2_grpc, streamer_pb2, streamer_pb2_grpc

log = logging.getLogger(__name__)

RECONNECT_BASE_S = 0.5
RECONNECT_MAX_S = 15.0
HEALTHY_AFTER_S = 10.0  # a stream open this long was healthy: its loss waits as if it were the first
JOB_EVENTS_BUFFERED = 256  # per job; the oldest go first (progress counts bytes from the start: the latest wins)
TUNNEL_CHANGED = "tunnel-changed"  # sent to every job's subscription when the public URL changes

PullEvent = streamer_pb2.TransferProgress | str  # a pull's progress, or TUNNEL_CHANGED


def reconnect_backoff() -> Backoff:
    return Backoff(RECONNECT_BASE_S, RECONNECT_MAX_S, reset_after_s=HEALTHY_AFTER_S)


class StreamerWatch:
    """The streamer's event stream: the current tunnel, and pull progress routed to jobs (a
    push's progress comes on its own Push call)."""

    def __init__(self, stub: streamer_pb2_grpc.StreamerServiceStub,
                 on_tunnel: Callable[[streamer_pb2.TunnelStatus], None] = lambda status: None) -> None:
        self.stub = stub
        self.on_tunnel = on_tunnel  # every tunnel status the stream brings, and a DOWN when it is lost
        self.tunnel: streamer_pb2.TunnelStatus | None = None
        self._last_url = ""  # survives the DOWN status between a tunnel's death and its new URL
        self._jobs: dict[str, Topic[PullEvent]] = {}

    async def run(self) -> None:
        await follow("streamer events", lambda: self.stub.WatchEvents(streamer_pb2.WatchStreamerEventsRequest()),
                     self._on_event, reconnect_backoff(), on_disconnect=self._lost)

    def _lost(self, reason: str) -> None:
        """Without the streamer nothing is served either: `on_tunnel` hears of a tunnel down until
        the stream is back (it starts with the tunnel's status)."""
        self.on_tunnel(streamer_pb2.TunnelStatus(state=streamer_pb2.TUNNEL_STATE_DOWN,
                                                 message=f"the streamer does not answer ({reason})"))

    def _on_event(self, event: streamer_pb2.StreamerEvent) -> None:
        if event.HasField("tunnel"):
            self.tunnel = event.tunnel
            self.on_tunnel(event.tunnel)
            new, old = event.tunnel.public_url, self._last_url
            self._last_url = new or old
            if old and new and new != old:
                log.info("tunnel URL changed; re-issuing pulls in flight")
                for topic in self._jobs.values():
                    topic.publish(TUNNEL_CHANGED)
        elif event.HasField("transfer") and event.transfer.kind == streamer_pb2.TRANSFER_KIND_PULL:
            job_topic = self._jobs.get(event.transfer.job_id)
            if job_topic is not None:
                job_topic.publish(event.transfer)

    @contextlib.contextmanager
    def subscribe(self, job_id: str) -> Iterator[Subscription[PullEvent]]:
        """The job's pull progress and TUNNEL_CHANGED from now on, for the length of the block
        (the subscription never ends on its own)."""
        topic = self._jobs.get(job_id)
        if topic is None:
            topic = self._jobs[job_id] = Topic(JOB_EVENTS_BUFFERED, Overflow.DROP_OLDEST, name=f"job {job_id} events")
        try:
            with topic.subscribe() as subscription:
                yield subscription
        finally:
            if not topic.subscribers:
                del self._jobs[job_id]

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
    """Whether each Frame.io connection is connected, from the auth service's status stream
    (every connection's). Until the stream says otherwise we assume one is (a call will tell us
    if not); a connection the config dropped is forgotten. `reconnected` is set when a
    connection comes back after a reconnect was needed (its waiter clears it); `on_change(name)`
    runs on every status of that connection and every call that said it needs reconnecting
    (the watcher drops the access token it holds for it), `on_status(status)` on every status.
    `connected` is the default connection's."""

    def __init__(self, stub: auth_pb2_grpc.AuthServiceStub,
                 on_change: Callable[[str], None] = lambda connection: None,
                 on_status: Callable[[auth_pb2.AuthStatus], None] = lambda status: None) -> None:
        self.stub = stub
        self.on_change = on_change
        self.on_status = on_status
        self.reconnected = asyncio.Event()
        self._connected: dict[str, bool] = {}
        self._news = asyncio.Event()  # set by every status (its waiters clear it)

    async def run(self) -> None:
        await follow("auth status", lambda: self.stub.WatchStatus(auth_pb2.WatchAuthStatusRequest()), self._on_status,
                     reconnect_backoff())

    @property
    def connected(self) -> bool:
        return self.is_connected(DEFAULT)

    def is_connected(self, connection: str = DEFAULT) -> bool:
        return self._connected.get(connection or DEFAULT, True)

    async def wait_connected(self, connection: str = DEFAULT) -> None:
        """Until auth's status stream has said the connection is connected."""
        while not self._connected.get(connection or DEFAULT, False):
            self._news.clear()
            await self._news.wait()

    def _on_status(self, status: auth_pb2.AuthStatus) -> None:
        connection = status.connection or DEFAULT
        self._news.set()
        self.on_change(connection)
        self.on_status(status)
        if status.state == auth_pb2.AUTH_STATE_REMOVED:
            self._connected.pop(connection, None)
            return
        was = self.is_connected(connection)
        now = self._connected[connection] = status.state == auth_pb2.AUTH_STATE_CONNECTED
        if now and not was:
            log.info("Frame.io connection %s connected; resuming jobs that waited for it", connection)
            self.reconnected.set()

    def lost(self, connection: str = DEFAULT) -> None:
        """A call said the connection needs reconnecting."""
        self.on_change(connection or DEFAULT)
        self._connected[connection or DEFAULT] = False
