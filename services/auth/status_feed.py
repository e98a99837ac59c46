"""The statuses of every connection for the WatchStatus streams. Each stream starts with one
current status per connection, then gets each change; changes coalesce per connection (a
slow reader gets each connection's latest status, and never loses one connection's change
to another's)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator

from postflow.v1 import auth_pb2


class StatusReader:
    """One stream's statuses not yet read: at most one per connection, oldest change first."""

    def __init__(self, first: Iterable[auth_pb2.AuthStatus]) -> None:
        self._pending = {status.connection: status for status in first}
        self._wakeup = asyncio.Event()
        self._ended = False

    def offer(self, status: auth_pb2.AuthStatus) -> None:
        self._pending.pop(status.connection, None)  # its newest change goes last in line
        self._pending[status.connection] = status
        self._wakeup.set()

    def end(self) -> None:
        self._ended = True
        self._wakeup.set()

    def __aiter__(self) -> StatusReader:
        return self

    async def __anext__(self) -> auth_pb2.AuthStatus:
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._pending.pop(next(iter(self._pending)))


class StatusFeed:
    def __init__(self) -> None:
        self._readers: set[StatusReader] = set()
        self._closed = False

    def publish(self, status: auth_pb2.AuthStatus) -> None:
        for reader in self._readers:
            reader.offer(status)

    @contextlib.contextmanager
    def subscribe(self, current: Iterable[auth_pb2.AuthStatus]) -> Iterator[StatusReader]:
        """A reader of `current` (one status per connection), then of what is published, for
        the length of the block."""
        reader = StatusReader(current)
        if self._closed:
            reader.end()
        else:
            self._readers.add(reader)
        try:
            yield reader
        finally:
            self._readers.discard(reader)

    def close(self) -> None:
        """Ends every reader once it has read what it holds, and every later one at once."""
        self._closed = True
        for reader in self._readers:
            reader.end()
        self._readers.clear()
