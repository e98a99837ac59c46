"""Fair turns: one holder at a time, the waiters served share by share in turn (each share's
own waiters first come, first served), so one share with many waiters cannot hold up another's
first. A share is whatever the caller puts in `FAIR_SHARE` for its task (the watcher: the job's
pipeline); tasks started from it inherit it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import AsyncIterator

FAIR_SHARE: contextvars.ContextVar[str] = contextvars.ContextVar("fair_share", default="")


class FairTurns:
    def __init__(self) -> None:
        self.busy = False
        self._holder = ""  # the share that has (or last had) the turn
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}  # in the order the shares get their turns

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await self._take(FAIR_SHARE.get())
        try:
            yield
        finally:
            self._pass_on()

    async def _take(self, share: str) -> None:
        if not self.busy:
            self.busy, self._holder = True, share
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(share, deque()).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._pass_on()  # the turn had come: it goes to the next
            else:
                queue = self._waiting.get(share)
                if queue is not None and granted in queue:
                    queue.remove(granted)
                    if not queue:
                        del self._waiting[share]
            raise

    def _pass_on(self) -> None:
        """The next share's first waiter gets the turn (not the holder's share while another
        waits); that share goes to the back."""
        while self._waiting:
            share = next(iter(self._waiting))
            if share == self._holder and len(self._waiting) > 1:
                self._waiting[share] = self._waiting.pop(share)
                share = next(iter(self._waiting))
            queue = self._waiting.pop(share)
            granted = queue.popleft()
            if queue:
                self._waiting[share] = queue
            if not granted.done():
                granted.set_result(None)
                self._holder = share
                return
        self.busy = False
