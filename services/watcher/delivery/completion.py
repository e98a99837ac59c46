"""Waiting until Frame.io has the whole file: a pull's progress applied as it comes, the
upload's status polled at growing intervals (the status call is limited to 5/s for all jobs
together), a new tunnel URL re-issuing a pull that still has bytes to fetch.

Two clocks, one at a time. While bytes are due, a transfer nobody hears of for STALL_S is
stuck: its incomplete file is discarded and the attempt retried. Once every byte went out,
Frame.io stitches, fetches or transcodes for as long as it takes (undocumented, it grows with
the file): the file is never discarded then unless Frame.io says `upload_failed`; after
`processing_timeout_s` the attempt ends, keeping the file, and the next one waits on it again.
Success is the status call's `upload_complete`, or show file's `status` `uploaded` or
`transcoded`; any other status means not yet. Frame.io's webhook saying the file is uploaded
(`nudges`) ends the wait before the next poll at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from frameio.types import FileWithIncludes

from postflow.core.backoff import Backoff
from postflow.core.pubsub import Subscription
from postflow.v1 import streamer_pb2
from services.watcher.delivery.errors import Reissue, RetryLater
from services.watcher.delivery.frameio_file import FileState, FrameioFile
from services.watcher.delivery.nudges import FileNudges
from services.watcher.delivery.pull import Pull
from services.watcher.delivery.record import JobRecord
from services.watcher.delivery.transfer import Transfer
from services.watcher.folder_contents import UPLOADED
from services.watcher.followers import TUNNEL_CHANGED, PullEvent
from services.watcher.jobs import PULL

STALL_S = 600.0  # bytes due and none moving this long: the transfer is stuck
PROCESSING_POLL_MAX_S = 60.0  # the longest wait between two looks at a file Frame.io is processing


class Completion:
    def __init__(self, record: JobRecord, pull: Pull, file: Callable[[str], FrameioFile],
                 discard: Callable[[FrameioFile | None], Awaitable[None]], poll_s: float,
                 processing_timeout_s: float, nudges: FileNudges) -> None:
        self.record = record
        self.nudges = nudges
        self.pull = pull
        self.file = file
        self.discard = discard
        self.poll_s = poll_s
        self.processing_timeout_s = processing_timeout_s

    async def wait(self, transfer: Transfer, events: Subscription[PullEvent] | None) -> FileWithIncludes | None:
        """Returns once Frame.io reports the upload complete: with the file as show file
        returned it when that call said so (show file, 10/s and needed anyway for the view
        URL, is asked before the status call). `events`: the pull's streamer events."""
        with self.nudges.watch(self.record.job.file_id) as nudged:
            return await self._wait(transfer, events, nudged)

    async def _wait(self, transfer: Transfer, events: Subscription[PullEvent] | None,
                    nudged: asyncio.Event) -> FileWithIncludes | None:
        processing_since = time.monotonic() if self.record.job.every_byte_sent else None
        polls = self._polls(processing_since is not None)
        interval = polls.failed()
        while True:
            if events is not None:
                await self._pull_events(events, transfer, interval, nudged)
            else:
                await _nap(interval, nudged)
            if processing_since is None and self.record.job.every_byte_sent:
                # The last byte just went out: nothing to ask Frame.io before it has had a moment.
                processing_since = time.monotonic()
                polls = self._polls(True)
                interval = polls.failed()
                continue
            job = self.record.job
            file = self.file(job.file_id)
            # While bytes are due only the status call can say "complete"; show file waits for the end.
            shown = await file.show() if processing_since is not None else None
            if shown is not None and shown.status in UPLOADED:
                return shown
            state = await file.state()
            if state == FileState.COMPLETE:
                return None
            if state in (FileState.FAILED, FileState.GONE):
                pulled_from = job.source_url if job.mode == PULL else ""
                await self.discard(file if state == FileState.FAILED else None)
                if pulled_from:
                    await self.pull.blame_the_tunnel(pulled_from)
                raise RetryLater("Frame.io could not fetch the file (upload failed)")
            if processing_since is None:
                interval = polls.failed()
                if time.monotonic() - transfer.last_activity > STALL_S:
                    await self.discard(file)
                    raise RetryLater(f"no progress for {STALL_S:.0f}s")
                continue
            processing_s = time.monotonic() - processing_since
            if processing_s >= self.processing_timeout_s:
                raise RetryLater(
                    f"Frame.io has had every byte for {processing_s:.0f}s but has not finished processing the "
                    f"file (neither upload_complete nor upload_failed); the file is kept on Frame.io and the "
                    f"next attempt waits for it again")
            interval = min(polls.failed(), self.processing_timeout_s - processing_s)

    def _polls(self, processing: bool) -> Backoff:
        """The waits between polls, each unfinished one longer (longer still while Frame.io processes)."""
        longest = max(self.poll_s * 10, PROCESSING_POLL_MAX_S) if processing else self.poll_s * 10
        return Backoff(self.poll_s, longest, jitter=0, factor=1.5)

    async def _pull_events(self, events: Subscription[PullEvent], transfer: Transfer, timeout_s: float,
                           nudged: asyncio.Event) -> None:
        """Applies the streamer's events for up to `timeout_s`; returns early once every byte
        went out, or the file is nudged. A new tunnel URL re-issues the pull (Reissue) unless
        Frame.io has it all."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            getting = asyncio.ensure_future(events.get())
            poked = asyncio.ensure_future(nudged.wait())
            try:
                await asyncio.wait((getting, poked), timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                poked.cancel()
                got = getting.done()
                getting.cancel()
            if not got:
                nudged.clear()
                return  # nudged, or the time is up
            item = getting.result()
            if item == TUNNEL_CHANGED:
                if self.record.job.every_byte_sent:
                    continue
                file = self.file(self.record.job.file_id)
                if await file.state() == FileState.COMPLETE:
                    return
                await self.discard(file)
                raise Reissue()
            if isinstance(item, streamer_pb2.TransferProgress) and await transfer.apply(item):
                return


async def _nap(seconds: float, nudged: asyncio.Event) -> None:
    """Sleeps `seconds`, or less when the file is nudged."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(nudged.wait(), seconds)
    nudged.clear()
