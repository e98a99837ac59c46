"""The remote-upload puller: what Frame.io does with a `source_url`, as far as anyone knows.

Before the 202 it probes the size (HEAD, or a `Range: bytes=0-0` GET when HEAD says
nothing useful). Then, in the background, it fetches the bytes by one plain GET or by
`parallelism` concurrent Range GETs of `chunk_size` (only when the source serves ranges),
resuming an interrupted request from the byte it reached, a few times. It hashes what it
receives in file order (sha256, flat memory: at most `parallelism` chunks held) and keeps
nothing else. Every request it makes is recorded on the file (`PullRecord`).

Nothing public says how Frame.io's fetcher really behaves (unconfirmed: HEAD first or not,
one GET or ranges, timeouts, retries, User-Agent): both strategies exist so a source can
be tested against each."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from postflow.emulator.digest import OrderedDigest, PieceError
from postflow.emulator.faults import Faults, PullDisconnect
from postflow.emulator.options import EmulatorOptions, PullStrategy
from postflow.emulator.store import File, PullRecord, Store

log = logging.getLogger(__name__)

RETRY_DELAY_S = 0.2
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class ProbeError(Exception):
    """The source could not tell its size (answered before the file exists)."""


class PullError(Exception):
    """The pull cannot finish; the message becomes the file's failure reason."""


class Interrupted(Exception):
    """One request stopped early (hang-up, short body, retryable status): worth resuming."""


@dataclass(frozen=True)
class Probe:
    size: int
    ranges: bool  # the source serves byte ranges
    requests: list[dict]


class Throttle:
    """Caps one pull, all its connections together, at `bytes_per_s` (None: no cap)."""

    def __init__(self, bytes_per_s: int | None) -> None:
        self.bytes_per_s = bytes_per_s
        self._free_at = time.monotonic()

    async def take(self, size: int) -> None:
        if not self.bytes_per_s:
            return
        now = time.monotonic()
        self._free_at = max(self._free_at, now) + size / self.bytes_per_s
        if self._free_at > now:
            await asyncio.sleep(self._free_at - now)


@dataclass
class PullJob:
    file: File
    url: str
    record: PullRecord
    throttle: Throttle
    disconnect: PullDisconnect | None
    cut_done: bool = field(default=False)

    @property
    def size(self) -> int:
        return self.file.file_size

    def cut_point(self, offset: int, length: int) -> int | None:
        """How many of the `length` bytes at `offset` get through before an injected hang-up, if one is due."""
        fault = self.disconnect
        if fault is None or (fault.mode == "once" and self.cut_done) or not offset <= fault.at_byte < offset + length:
            return None
        self.cut_done = True
        return fault.at_byte - offset


def content_range_total(value: str | None) -> int | None:
    """The complete length in a `Content-Range: bytes a-b/N` or `bytes */N` header."""
    if not value or "/" not in value:
        return None
    total = value.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


class Puller:
    def __init__(self, http: httpx.AsyncClient, options: EmulatorOptions, faults: Faults, store: Store) -> None:
        self._http = http
        self._options = options
        self._faults = faults
        self._store = store
        self._tasks: dict[str, asyncio.Task] = {}
        self._headers = {"User-Agent": options.pull_user_agent, "Accept-Encoding": "identity"}

    async def probe(self, url: str) -> Probe:
        requests: list[dict] = []
        try:
            head = await self._http.head(url, headers=self._headers)
            requests.append({"method": "HEAD", "range": None, "status": head.status_code, "bytes": 0})
            length = head.headers.get("content-length", "")
            if head.status_code == 200 and length.isdigit():
                return Probe(int(length), head.headers.get("accept-ranges", "").lower() == "bytes", requests)
            async with self._http.stream("GET", url, headers={**self._headers, "Range": "bytes=0-0"}) as response:
                requests.append({"method": "GET", "range": "bytes=0-0", "status": response.status_code, "bytes": 0})
                total = content_range_total(response.headers.get("content-range"))
                length = response.headers.get("content-length", "")
                if response.status_code in (206, 416) and total is not None:
                    return Probe(total, True, requests)
                if response.status_code == 200 and length.isdigit():
                    return Probe(int(length), False, requests)
                raise ProbeError(f"the source answered HTTP {response.status_code} without a size")
        except httpx.HTTPError as exc:
            raise ProbeError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None

    def start(self, file: File, url: str, probe: Probe) -> None:
        """Pulls `file`'s bytes from `url` in the background."""
        strategy = self._faults.pull_strategy or self._options.pull
        if strategy.mode == "ranges" and not probe.ranges:
            strategy = PullStrategy("single", strategy.chunk_size, strategy.parallelism)
        file.upload.pull = PullRecord(strategy.mode, strategy.chunk_size if strategy.mode == "ranges" else None,
                                      strategy.parallelism if strategy.mode == "ranges" else 1,
                                      self._options.pull_user_agent, requests=list(probe.requests))
        job = PullJob(file, url, file.upload.pull, Throttle(self._faults.pull_bytes_per_s),
                      self._faults.pull_disconnect)
        task = asyncio.create_task(self._run(job, strategy), name=f"pull {file.id}")
        self._tasks[file.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(file.id, None))

    def cancel(self, file_id: str) -> None:
        task = self._tasks.get(file_id)
        if task is not None:
            task.cancel()

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: PullJob, strategy: PullStrategy) -> None:
        started = time.monotonic()
        try:
            if job.size == 0:
                digest = hashlib.sha256().hexdigest()
            elif strategy.mode == "ranges":
                digest = await self._pull_ranges(job, strategy)
            else:
                digest = await self._pull_single(job)
        except (PullError, PieceError) as exc:
            self._store.fail_upload(job.file, str(exc))
            log.warning("remote upload %s failed: %s", job.file.id, exc)
            return
        except Exception as exc:
            self._store.fail_upload(job.file, f"emulator error: {type(exc).__name__}: {exc}")
            log.exception("remote upload %s: emulator error", job.file.id)
            return
        self._store.complete_upload(job.file, digest, self._faults.processing_delay(self._options))
        log.info("remote upload %s complete: %d bytes in %d requests (%s) in %.1fs", job.file.id, job.size,
                 len(job.record.requests), strategy.mode, time.monotonic() - started)

    async def _pull_single(self, job: PullJob) -> str:
        digest = OrderedDigest(1, hold_limit=0)
        async with aclosing(self._fetch(job, 0, job.size - 1, plain=True)) as data:
            await digest.feed(0, job.size, data)
        return digest.hexdigest()

    async def _pull_ranges(self, job: PullJob, strategy: PullStrategy) -> str:
        chunk, window = strategy.chunk_size, strategy.parallelism
        bounds = [(start, min(start + chunk, job.size) - 1) for start in range(0, job.size, chunk)]
        digest = OrderedDigest(len(bounds), hold_limit=window * chunk)
        indexes = iter(range(len(bounds)))

        async def worker() -> None:
            for index in indexes:
                await digest.wait_window(index, window)
                start, end = bounds[index]
                async with aclosing(self._fetch(job, start, end, plain=False)) as data:
                    await digest.feed(index, end - start + 1, data)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(window, len(bounds))):
                    group.create_task(worker())
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return digest.hexdigest()

    async def _fetch(self, job: PullJob, start: int, end: int, plain: bool) -> AsyncGenerator[bytes, None]:
        """Bytes `start`..`end` of the source, resumed from where an interrupted request stopped."""
        offset, attempt = start, 0
        while True:
            attempt += 1
            ranged = not (plain and offset == 0)
            headers = {**self._headers, "Range": f"bytes={offset}-{end}"} if ranged else self._headers
            entry: dict[str, Any] = {"method": "GET", "range": headers.get("Range"), "status": None, "bytes": 0}
            job.record.requests.append(entry)
            try:
                async with self._http.stream("GET", job.url, headers=headers) as response:
                    entry["status"] = response.status_code
                    skip = self._skip(response, job, offset, end, ranged)
                    async for piece in response.aiter_raw():
                        if skip:
                            piece, skip = piece[skip:], max(0, skip - len(piece))
                        piece = piece[: end + 1 - offset]
                        cut = job.cut_point(offset, len(piece))
                        if cut is not None:
                            piece = piece[:cut]
                        if piece:
                            offset += len(piece)
                            entry["bytes"] += len(piece)
                            job.record.bytes += len(piece)
                            await job.throttle.take(len(piece))
                            yield piece
                        if cut is not None:
                            job.record.disconnects += 1
                            raise Interrupted(f"connection cut at byte {offset} (injected fault)")
                        if offset > end:
                            return
                    raise Interrupted(f"the source closed the response at byte {offset} of {end + 1}")
            except (httpx.TransportError, Interrupted) as exc:
                reason = str(exc) if isinstance(exc, Interrupted) else f"{type(exc).__name__}: {exc}".rstrip(": ")
                if attempt >= self._options.pull_attempts:
                    raise PullError(f"bytes {start}-{end}: {reason} (gave up after {attempt} attempts)") from None
                job.record.retries += 1
                log.info("remote upload %s: bytes %d-%d interrupted (%s); resuming at %d", job.file.id, start, end,
                         reason, offset)
                await asyncio.sleep(RETRY_DELAY_S * attempt)

    @staticmethod
    def _skip(response: httpx.Response, job: PullJob, offset: int, end: int, ranged: bool) -> int:
        """Checks a response to GET bytes `offset`..`end`; returns how many leading bytes to drop
        (a source that ignores Range sends the whole file from byte 0)."""
        status = response.status_code
        if status in RETRYABLE_STATUS:
            raise Interrupted(f"the source answered HTTP {status}")
        if status == 206 and ranged:
            expected = f"bytes {offset}-{end}/{job.size}"
            if response.headers.get("content-range", "").strip() != expected:
                raise PullError(f"the source answered Content-Range {response.headers.get('content-range')!r}, "
                                f"expected {expected!r} (did the file change?)")
            return 0
        if status == 200:
            length = response.headers.get("content-length")
            if length is not None and length.strip() != str(job.size):
                raise PullError(f"the source now has {length} bytes, {job.size} were announced (did the file change?)")
            return offset
        raise PullError(f"the source answered HTTP {status}")
