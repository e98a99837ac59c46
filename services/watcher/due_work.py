"""The loop of work recorded as due in a store and done one item at a time in the background
(after_delivery's actions, approvals' copies): at start, and whenever woken."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


async def work_through(due: Callable[[], Awaitable[list[T]]], settle: Callable[[T], Awaitable[bool]],
                       wake: asyncio.Event, stopping: threading.Event, what: str, retry_s: float) -> None:
    """Settles each item `due` returns, in order, then waits for `wake`; an item `settle` could
    not do now (False), or a failing store, has it all looked at again after `retry_s`. Sets
    `stopping` when it ends, for file work on threads to give up."""
    try:
        while True:
            wake.clear()
            waiting = False
            try:
                for item in await due():
                    waiting |= not await settle(item)
            except Exception:
                log.exception("%s: the store failed; trying again in %.0f s", what, retry_s)
                waiting = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), retry_s if waiting else None)
    finally:
        stopping.set()
