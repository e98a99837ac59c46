"""The outbox at work: events in, deliveries out, at least once.

In: the ledger's stored events, read from a cursor kept in the outbox (`ledger_seq`), each
batch turned into entries for the targets that want them in the same transaction that moves
the cursor; after a crash the read resumes from the cursor and the entries' unique keys (the
ledger event's number and the target's key) make the repeat a no-op. The followers' events
(services.watcher.outbound.alerts) come in through `enqueue`.

Out: a lane per target, off every job's path: it sends the target's oldest pending entries
(one webhook POST, or one notification for all that gathered in the rule's window), and on a
failure waits with backoff (outbound.retry_base_s doubling up to retry_max_s) and tries the
same entries again, for as long as it takes. A receiver that refuses an entry for good (a 4xx)
gets it marked rejected, kept in the log, and the lane goes on with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from postflow.core.backoff import Backoff
from postflow.core.errors import FailedPrecondition
from postflow.core.outbound_config import OutboundConfig
from services.watcher.jobs import PROGRESS
from services.watcher.ledger import Ledger
from services.watcher.outbound.events import Outgoing, from_job_event
from services.watcher.outbound.outbox import PENDING, Entry, NewEntry, Outbox
from services.watcher.outbound.targets import Outcome, Target

log = logging.getLogger(__name__)

CURSOR = "ledger_seq"
CATCH_UP_BATCH = 500
CURSOR_EVERY_S = 5.0
PRUNE_EVERY_S = 6 * 3600.0


async def wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Until `event` is set or `timeout_s` has passed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()


def entry_for(event: Outgoing, target: Target) -> NewEntry:
    job = event.job
    return NewEntry(key=f"pf-{event.source}-{target.key}", target=target.key, kind=target.kind, label=target.label,
                    event=event.type, job_id=job.get("id", ""), path=job.get("path", ""),
                    pipeline=job.get("pipeline", ""), body=event.encoded())


class Lane:
    """One target's sender: `wake` is set when it may have something new to send."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class Outbound:
    def __init__(self, outbox: Outbox, ledger: Ledger, settings: OutboundConfig, dashboard: str, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.outbox = outbox
        self.ledger = ledger
        self.settings = settings
        self.dashboard = dashboard
        self.clock = clock
        self.lanes: dict[str, Lane] = {}
        self._running = False
        self._cursor_stored_at = 0.0

    def apply(self, targets: Iterable[Target], settings: OutboundConfig, dashboard: str) -> None:
        """The targets of the config as it is now: a new one's lane starts, a removed one's stops
        (its pending entries wait, shown "unconfigured", until a target with its key is back)."""
        self.settings, self.dashboard = settings, dashboard
        old, self.lanes = self.lanes, {}
        for target in targets:
            lane = old.pop(target.key, None) or Lane(target)
            lane.target = target
            self.lanes[target.key] = lane
            if self._running and lane.task is None:
                self._start(lane)
            lane.wake.set()
        for lane in old.values():
            if lane.task is not None:
                lane.task.cancel()

    def status_of(self, entry: Entry) -> str:
        return "unconfigured" if entry.status == PENDING and entry.target not in self.lanes else entry.status

    async def run(self) -> None:
        self._running = True
        try:
            for lane in self.lanes.values():
                self._start(lane)
            await asyncio.gather(self._follow_ledger(), self._prune())
        finally:
            self._running = False
            tasks = [lane.task for lane in self.lanes.values() if lane.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for lane in self.lanes.values():
                lane.task = None

    def _start(self, lane: Lane) -> None:
        lane.task = asyncio.create_task(self._send(lane), name=f"outbound {lane.target.label}")

    async def enqueue(self, events: Iterable[Outgoing], marks: Mapping[str, str] | None = None) -> None:
        """Stores an entry for each event and each target that wants it (with `marks`, at once)."""
        entries = self._entries(events)
        if entries or marks:
            await self._store(entries, marks)

    def _entries(self, events: Iterable[Outgoing]) -> list[NewEntry]:
        return [entry_for(event, lane.target) for event in events for lane in self.lanes.values()
                if lane.target.wants(event)]

    async def _store(self, entries: list[NewEntry], marks: Mapping[str, str] | None) -> None:
        for key in await self.outbox.add(entries, marks):
            if key in self.lanes:
                self.lanes[key].wake.set()

    async def replay(self, entry_id: int) -> Entry:
        entry = await self.outbox.entry(entry_id)
        lane = self.lanes.get(entry.target)
        if lane is None:
            raise FailedPrecondition(f"delivery {entry_id}: {entry.label} is no longer configured")
        entry = await self.outbox.replay(entry_id)
        log.info("delivery %d to %s replayed", entry_id, entry.label)
        lane.wake.set()
        return entry

    # -- in: the ledger's events ----------------------------------------------------------

    async def _follow_ledger(self) -> None:
        cursor = int(await self.outbox.mark(CURSOR) or 0)
        while True:
            with self.ledger.live_events.subscribe() as live:
                cursor = await self._catch_up(cursor)
                async for event in live:
                    if event.kind != PROGRESS and event.seq > cursor:
                        cursor = await self._catch_up(cursor)
            if not live.dropped:
                return  # the service is stopping

    async def open(self) -> None:
        """Where reading the ledger resumes, settled before anything can write to it: a new
        outbox starts at the ledger's end (events from before it existed are not sent)."""
        stored, head = await self.outbox.mark(CURSOR), await self.ledger.head()
        if stored is None or int(stored) > head.last_seq:
            if stored is not None:
                log.warning("the outbox had read the ledger up to event %s but the ledger ends at %d (a new "
                            "ledger?): going on from its end", stored, head.last_seq)
            await self.outbox.add([], {CURSOR: str(head.last_seq)})
        elif int(stored) < head.first_seq - 1:
            log.warning("%d job events were trimmed from the ledger before the outbox read them: their "
                        "webhooks and notifications are not sent", head.first_seq - 1 - int(stored))

    async def _catch_up(self, cursor: int) -> int:
        """Entries for the ledger's events after `cursor`, stored with the cursor moved past
        them. Events that make none move it at most every CURSOR_EVERY_S (a crash then reads
        a few of them again, for nothing), so a watcher without targets writes next to nothing."""
        while events := await self.ledger.events_after(cursor, CATCH_UP_BATCH):
            cursor = events[-1].seq
            entries = self._entries(event for event in (from_job_event(e, self.dashboard) for e in events) if event)
            if entries or self.clock() - self._cursor_stored_at >= CURSOR_EVERY_S:
                await self._store(entries, {CURSOR: str(cursor)})
                self._cursor_stored_at = self.clock()
        return cursor

    async def _prune(self) -> None:
        while True:
            pruned = await self.outbox.prune(self.clock() - self.settings.log_days * 86400)
            if pruned:
                log.info("delivery log: forgot %d entries older than %d days", pruned, self.settings.log_days)
            await asyncio.sleep(PRUNE_EVERY_S)

    # -- out: a lane per target -----------------------------------------------------------

    async def _send(self, lane: Lane) -> None:
        backoff = Backoff(self.settings.retry_base_s, self.settings.retry_max_s)
        while True:
            lane.wake.clear()
            target = lane.target
            entries = await self.outbox.pending(target.key, target.batch_limit)
            if not entries:
                await lane.wake.wait()
                continue
            wait_s = max(entries[0].next_at, entries[0].created_at + target.window_s) - self.clock()
            if wait_s > 0:
                await wait_event(lane.wake, wait_s)
                continue
            outcome = await self._attempt(target, entries)
            await self._record(target, entries, outcome, backoff)

    async def _attempt(self, target: Target, entries: list[Entry]) -> Outcome:
        try:
            return await target.send(entries)
        except Exception as exc:  # a bug in a sender (or its library) must not end the lane
            log.exception("%s: sending failed", target.label)
            return Outcome("retry", f"internal error: {type(exc).__name__}")

    async def _record(self, target: Target, entries: list[Entry], outcome: Outcome, backoff: Backoff) -> None:
        ids = [entry.id for entry in entries]
        if outcome.result == "sent":
            await self.outbox.sent(ids)
            if backoff.failures:
                log.info("%s: delivering again after %d failed attempts", target.label, backoff.failures)
            backoff.succeeded()
        elif outcome.result == "rejected":
            await self.outbox.rejected(ids, outcome.error)
            log.warning("%s: %s event rejected: %s", target.label, entries[0].event, outcome.error)
            backoff.succeeded()
        else:
            delay_s = backoff.failed()
            await self.outbox.failed(ids, outcome.error, self.clock() + delay_s)
            if backoff.failures == 1:
                log.warning("%s: %s; trying again in %.1f s, and on with backoff (the events wait in the "
                            "outbox; `postflow webhooks log` shows them)", target.label, outcome.error, delay_s)
