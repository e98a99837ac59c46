"""Frame.io saying a file is uploaded (its `file.upload.completed` or `file.ready` webhook)
ends the wait between two polls of that file at once: the poll then decides, as always."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class FileNudges:
    """Waits on Frame.io files, by file id; an entry lives only while someone waits."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def watch(self, file_id: str) -> Iterator[asyncio.Event]:
        """An event set by each `poke(file_id)` for the length of the block (the waiter clears it)."""
        nudged = asyncio.Event()
        waiters = self._waiting.setdefault(file_id, set())
        waiters.add(nudged)
        try:
            yield nudged
        finally:
            waiters.discard(nudged)
            if not waiters:
                del self._waiting[file_id]

    def poke(self, file_id: str) -> bool:
        """Wakes whoever waits on the file; whether anyone did."""
        waiters = self._waiting.get(file_id, ())
        for nudged in waiters:
            nudged.set()
        return bool(waiters)

    def __len__(self) -> int:
        """Files waited on now."""
        return len(self._waiting)
