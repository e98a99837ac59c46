"""A small SSE reader for tests: parses `text/event-stream` from an httpx response and
keeps the view a browser would build (jobs by id, last event id)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SSEEvent:
    type: str
    id: str | None
    data: Any


async def read_events(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    kind = "message"
    event_id: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SSEEvent(kind, event_id, json.loads("\n".join(data)))
            kind, event_id, data = "message", None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "id":
            event_id = value
        elif name == "data":
            data.append(value)


@dataclass
class View:
    """What one client saw: every event, and the jobs as the page would show them."""

    events: list[SSEEvent] = field(default_factory=list)
    jobs: dict[str, dict] = field(default_factory=dict)
    last_id: str | None = None

    def apply(self, event: SSEEvent) -> None:
        self.events.append(event)
        if event.id:
            self.last_id = event.id
        if event.type == "snapshot":
            self.jobs = {job["id"]: job for job in event.data["jobs"]}
        elif event.type == "job":
            self.jobs[event.data["id"]] = event.data

    def of_type(self, kind: str) -> list[SSEEvent]:
        return [event for event in self.events if event.type == kind]

    def states(self) -> dict[str, str]:
        return {job_id: job["state"] for job_id, job in self.jobs.items()}


async def follow(client: httpx.AsyncClient, view: View, last_event_id: str | None = None, **params) -> None:
    """Reads /events into `view` until the server ends the stream (or the task is cancelled)."""
    headers = {"last-event-id": last_event_id} if last_event_id else {}
    async with client.stream("GET", "/events", headers=headers, params=params, timeout=None) as response:
        response.raise_for_status()
        async for event in read_events(response):
            view.apply(event)


@contextlib.asynccontextmanager
async def following(client: httpx.AsyncClient, **kwargs: Any) -> AsyncIterator[View]:
    """A View that `follow` fills in the background while the block runs."""
    view = View()
    task = asyncio.create_task(follow(client, view, **kwargs))
    try:
        yield view
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
