"""A push's parts as the caller's PushParts batches arrive: each checked, placed at its
offset in the file and handed to the part workers at once, so that the first PUTs start
before the last URLs are in. The parts must cover the file exactly, in the number the
header announced; anything else is an InvalidArgument naming the problem."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from postflow.core.errors import InvalidArgument
from postflow.v1 import streamer_pb2


@dataclass(frozen=True)
class Part:
    index: int
    offset: int
    size: int
    url: str


async def read_header(requests: AsyncIterator[streamer_pb2.PushRequest]) -> streamer_pb2.PushHeader:
    """The call's first message, which must be its header."""
    first = await anext(requests, None)
    if first is None or first.WhichOneof("item") != "header":
        raise InvalidArgument("the first message of a push must be its header")
    header = first.header
    if header.part_count < 1:
        raise InvalidArgument("header.part_count: at least one part is required")
    if header.size < header.part_count:
        raise InvalidArgument(f"header: {header.part_count} parts cannot cover a file of {header.size} bytes")
    return header


class PartFeed:
    """Reads the rest of the call into `queue`, then one None per worker."""

    def __init__(self, header: streamer_pb2.PushHeader, requests: AsyncIterator[streamer_pb2.PushRequest],
                 workers: int) -> None:
        self.header = header
        self.requests = requests
        self.workers = workers
        self.queue: asyncio.Queue[Part | None] = asyncio.Queue()
        self.received = 0  # parts so far
        self.covered = 0  # bytes of the file those parts cover

    async def run(self) -> None:
        async for request in self.requests:
            if request.WhichOneof("item") != "parts":
                raise InvalidArgument("after the header a push carries only parts")
            for part in request.parts.parts:
                self.queue.put_nowait(self._place(part))
        if self.received != self.header.part_count:
            raise InvalidArgument(f"parts: the header announced {self.header.part_count}, "
                                  f"the call carried {self.received}")
        if self.covered != self.header.size:
            raise InvalidArgument(f"parts: sizes add up to {self.covered}, the file has {self.header.size} bytes")
        for _ in range(self.workers):
            self.queue.put_nowait(None)

    def _place(self, part: streamer_pb2.UploadPart) -> Part:
        index, offset = self.received, self.covered
        if index >= self.header.part_count:
            raise InvalidArgument(f"parts: more than the {self.header.part_count} the header announced")
        if part.size <= 0:
            raise InvalidArgument(f"parts[{index}].size: must be positive")
        if offset + part.size > self.header.size:
            raise InvalidArgument(f"parts[{index}]: ends at byte {offset + part.size}, "
                                  f"past the end of the file ({self.header.size} bytes)")
        if not part.url.startswith(("http://", "https://")):
            raise InvalidArgument(f"parts[{index}].url: expected an http(s) URL")
        self.received += 1
        self.covered += part.size
        return Part(index, offset, part.size, part.url)
