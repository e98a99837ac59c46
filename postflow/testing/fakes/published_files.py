"""The HTTP side of the fake streamer: what a publication is (a ticket), and an ASGI response
wrapper that reports the body bytes as they go out, can be slowed down and cut off."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send


@dataclass
class Ticket:
    id: str
    token: str
    path: Path
    relpath: str
    size: int
    mtime_ns: int
    job_id: str
    base: str  # the public URL the file was published under
    revoked: bool = False
    covered: list[tuple[int, int]] = field(default_factory=list)  # byte spans served, merged

    @property
    def bytes_covered(self) -> int:
        return sum(hi - lo for lo, hi in self.covered)

    def cover(self, start: int, end: int) -> int:
        """Adds a span served; returns the bytes covered so far."""
        spans = sorted([*self.covered, (start, end)])
        merged = [spans[0]]
        for lo, hi in spans[1:]:
            if lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self.covered = merged
        return self.bytes_covered


def range_start(header: str) -> int:
    """Where a single `Range: bytes=N-…` starts (0 for no range or several)."""
    if header.startswith("bytes=") and "," not in header:
        start = header[6:].split("-", 1)[0]
        if start.isdigit():
            return int(start)
    return 0


class CountingResponse:
    """Wraps an ASGI response: `report(sent)` after each body chunk; `bytes_per_s()` (read at
    every chunk, so a test can change it midway) paces the body; `cut()` true drops the
    connection, as a tunnel that died does; `count_connection(+1/-1)` around the body."""

    def __init__(self, response: Response, report: Callable[[int], None], bytes_per_s: Callable[[], float | None],
                 cut: Callable[[], bool], count_connection: Callable[[int], None]) -> None:
        self.response = response
        self.report = report
        self.bytes_per_s = bytes_per_s
        self.cut = cut
        self.count_connection = count_connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal sent
            if self.cut():
                raise ConnectionResetError("the tunnel died")
            await send(message)
            if message["type"] == "http.response.body" and message.get("body"):
                sent += len(message["body"])
                self.report(sent)
                if rate := self.bytes_per_s():
                    await asyncio.sleep(len(message["body"]) / rate)

        self.count_connection(1)
        try:
            await self.response(scope, receive, counting_send)
        finally:
            self.count_connection(-1)
