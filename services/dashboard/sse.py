"""`GET /events`: the Server-Sent Events stream.

On connect a client gets a `snapshot` (or, with `Last-Event-ID` — the header a browser sends
when it reconnects, or `?last_event_id=` from our own reconnect logic — just the events it
missed), then live events. A `ping` event every `ping_s` seconds lets the page notice a dead
connection. A client that cannot keep up is dropped by the fan-out; a send that blocks longer
than `send_timeout_s` ends the response too.

A person limited to some pipelines (dashboard.oidc.pipelines) gets only their jobs: job events
and job log lines of other pipelines are left out of their stream, and each snapshot is
re-encoded for them with only their jobs. The stream ends at the next event once the person's
session has ended (signed out, expired, revoked by an admin).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.access import Access
from services.dashboard.fanout import Event
from services.dashboard.hub import Hub
from services.dashboard.scope import scoped_snapshot


def events_route(hub: Hub, access: Access, ping_s: float = 15.0, send_timeout_s: float = 30.0) -> Route:
    def ping() -> ServerSentEvent:
        return ServerSentEvent(json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds")}),
                               event="ping")

    def frame(event: Event, allowed: tuple[str, ...] | None) -> bytes | None:
        """What of `event` a client seeing only `allowed` pipelines gets (None: nothing)."""
        if allowed is None:
            return event.frame
        if event.type == "snapshot":
            return hub.fanout.encode("snapshot", scoped_snapshot(hub.snapshot(), allowed), event.seq)
        return None if event.pipeline is not None and event.pipeline not in allowed else event.frame

    async def stream(request: Request, last_event_id: str) -> AsyncIterator[bytes]:
        allowed = access.pipelines(request)
        with hub.fanout.subscribe(last_event_id, hub.snapshot) as (subscription, first):
            for event in first:
                if (data := frame(event, allowed)) is not None:
                    yield data
            async for event in subscription:
                if not access.allowed(request):
                    return
                if (data := frame(event, allowed)) is not None:
                    yield data

    async def events(request: Request) -> Response:
        last_event_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id", "")
        return EventSourceResponse(stream(request, last_event_id), ping=ping_s, ping_message_factory=ping,
                                   send_timeout=send_timeout_s)

    return Route("/events", events)
