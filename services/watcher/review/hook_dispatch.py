"""Acting on the webhook deliveries the receiver stored, oldest first, also those a restart
left: `file.upload.completed` and `file.ready` end the verification wait of that file early;
every other event goes to the review loop (`on_review_event`). A handler that fails is logged
and tried again with backoff, for MAX_ATTEMPTS tries (then the sweep catches up); deliveries
acted on or given up are forgotten after a day."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from postflow.core.backoff import backoff_delay
from services.watcher.delivery.nudges import FileNudges
from services.watcher.review.events import FrameioEvent
from services.watcher.review.hooks_store import HooksStore, InboxRow

log = logging.getLogger(__name__)

ReviewEventHandler = Callable[[FrameioEvent], Awaitable[None]]
UPLOADED_EVENTS = frozenset({"file.upload.completed", "file.ready"})
RETRY_BASE_S = 5.0
RETRY_MAX_S = 600.0
MAX_ATTEMPTS = 20  # about two hours of tries
KEEP_DONE_S = 86400.0
PRUNE_EVERY_S = 3600.0


class HookDispatcher:
    def __init__(self, store: HooksStore, nudges: FileNudges, on_review_event: ReviewEventHandler,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.nudges = nudges
        self.on_review_event = on_review_event
        self.clock = clock
        self._wake = asyncio.Event()
        self._pruned_at = 0.0

    def wake(self) -> None:
        """A delivery was stored."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait_s = await self._dispatch_due()
            except Exception:  # the store: the deliveries stay in it
                log.exception("Frame.io webhooks: the inbox failed; trying again in %.0fs", RETRY_BASE_S)
                wait_s = RETRY_BASE_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait_s)

    async def _dispatch_due(self) -> float:
        """Acts on the deliveries due now; how long until the next one is."""
        for row in await self.store.due(self.clock()):
            await self._dispatch(row)
        await self._prune()
        next_due = await self.store.next_due()
        return PRUNE_EVERY_S if next_due is None else min(max(0.0, next_due - self.clock()), PRUNE_EVERY_S)

    async def _dispatch(self, row: InboxRow) -> None:
        try:
            event = FrameioEvent(**json.loads(row.event))
        except (ValueError, TypeError) as exc:  # stored by another version of PostFlow
            log.warning("Frame.io webhook delivery %d cannot be read (%s); set aside, the sweep catches up", row.id,
                        exc)
            await self.store.done(row.id)
            return
        try:
            if event.type in UPLOADED_EVENTS:
                self.nudges.poke(event.resource_id)
            else:
                await self.on_review_event(event)
        except Exception as exc:
            if row.attempts + 1 >= MAX_ATTEMPTS:
                log.warning("acting on Frame.io's %s of %s %s failed %d times, given up (the sweep catches up): %s",
                            event.type, event.resource_type, event.resource_id, row.attempts + 1, exc)
                await self.store.done(row.id)
                return
            delay = backoff_delay(row.attempts + 1, RETRY_BASE_S, RETRY_MAX_S)
            log.warning("acting on Frame.io's %s of %s %s failed (try %d), trying again in %.0fs: %s", event.type,
                        event.resource_type, event.resource_id, row.attempts + 1, delay, exc)
            await self.store.failed(row.id, str(exc), self.clock() + delay)
            return
        await self.store.done(row.id)

    async def _prune(self) -> None:
        now = self.clock()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            await self.store.prune(now - KEEP_DONE_S)
