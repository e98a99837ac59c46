"""`GET /events`: the Server-Sent Events stream.

On connect a client gets a `snapshot` (or, with `Last-Event-ID` — the header a browser sends
when it reconnects, or `?last_event_id=` from our own reconnect logic — just the events it
missed), then live events. A `ping` event every `ping_s` seconds lets the page notice a dead
connection. A client that cannot keep up is dropped by the fan-out; a send that blocks longer
than `send_timeout_s` ends the response too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.hub import Hub


def events_route(hub: Hub, ping_s: float = 15.0, send_timeout_s: float = 30.0) -> Route:
    def ping() -> ServerSentEvent:
        return ServerSentEvent(json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds")}),
                               event="ping")

    async def stream(last_event_id: str) -> AsyncIterator[bytes]:
        with hub.fanout.subscribe(last_event_id, hub.snapshot) as (subscription, first):
            for event in first:
                yield event.frame
            async for event in subscription:
                yield event.frame

    async def events(request: Request) -> Response:
        last_event_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id", "")
        return EventSourceResponse(stream(last_event_id), ping=ping_s, ping_message_factory=ping,
                                   send_timeout=send_timeout_s)

    return Route("/events", events)
