"""SHA-256 of a file that arrives as numbered pieces, possibly out of order, in flat memory.

The piece whose turn it is streams straight into the hash; a piece that arrives early is
held in memory only while the total held stays under a bound, and otherwise waits for its
turn or for room. A piece that fails half-way leaves the hash untouched (it is fed into a
copy that is kept only on success), so the same piece can be sent again."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, Callable


class PieceError(Exception):
    """A piece was not accepted: wrong length, or no room to hold it in time."""


class OrderedDigest:
    def __init__(self, pieces: int, hold_limit: int) -> None:
        self.pieces = pieces
        self.hold_limit = hold_limit
        self._digest = hashlib.sha256()
        self._next = 0
        self._held: dict[int, list[bytes]] = {}
        self._held_bytes = 0  # reserved by pieces being held or waiting in `_held`
        self._changed = asyncio.Condition()

    @property
    def complete(self) -> bool:
        return self._next == self.pieces

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    async def wait_window(self, index: int, window: int) -> None:
        """Waits until `index` is fewer than `window` pieces ahead of the next one to hash."""
        async with self._changed:
            await self._changed.wait_for(lambda: index < self._next + window)

    async def feed(self, index: int, length: int, data: AsyncIterable[bytes], wait_s: float | None = None) -> None:
        """Consumes piece `index` (exactly `length` bytes) from `data` into the hash, now or later."""
        async with self._changed:
            if index < self._next or index in self._held:
                raise PieceError(f"piece {index + 1} was already received")
            try:
                async with asyncio.timeout(wait_s):
                    await self._changed.wait_for(
                        lambda: index == self._next or self._held_bytes + length <= self.hold_limit)
            except TimeoutError:
                raise PieceError(f"piece {index + 1} arrived early and there was no room to hold it") from None
            streaming = index == self._next
            if not streaming:
                self._held_bytes += length
        try:
            if streaming:
                await self._stream(index, length, data)
            else:
                await self._hold(index, length, data)
        except BaseException:
            if not streaming:
                async with self._changed:
                    self._held_bytes -= length
                    self._changed.notify_all()
            raise

    async def _stream(self, index: int, length: int, data: AsyncIterable[bytes]) -> None:
        working = self._digest.copy()
        await _receive(index, length, data, working.update)
        async with self._changed:
            self._digest = working
            self._next += 1
            self._drain()
            self._changed.notify_all()

    async def _hold(self, index: int, length: int, data: AsyncIterable[bytes]) -> None:
        chunks: list[bytes] = []
        await _receive(index, length, data, chunks.append)
        async with self._changed:
            self._held[index] = chunks
            self._drain()
            self._changed.notify_all()

    def _drain(self) -> None:
        while self._next in self._held:
            for chunk in self._held.pop(self._next):
                self._digest.update(chunk)
                self._held_bytes -= len(chunk)
            self._next += 1


async def _receive(index: int, length: int, data: AsyncIterable[bytes], take: Callable[[bytes], object]) -> None:
    """Passes every chunk of piece `index` to `take`; the piece must be exactly `length` bytes."""
    received = 0
    async for chunk in data:
        received += len(chunk)
        if received > length:
            raise PieceError(f"piece {index + 1} is longer than {length} bytes")
        take(chunk)
    if received != length:
        raise PieceError(f"piece {index + 1} ended after {received} of {length} bytes")
