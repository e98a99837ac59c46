"""Push uploads: a file's parts PUT to Frame.io's pre-signed part URLs in parallel, each
part read straight from the file, ahead and in parallel on the reader pool's threads (never
the whole file in memory, at most `concurrency` parts in flight; the loop never waits on
storage), retried with exponential backoff and jitter per part. Every piece read is paid
for on the bandwidth limit (`pacer.py`) the pulls served share before it is handed to the
HTTP client."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

from postflow.core.backoff import backoff_delay
from postflow.core.errors import InvalidArgument
from postflow.frameio import retry_after_s
from postflow.v1 import streamer_pb2
from services.streamer.coverage import Milestones, RateMeter
from services.streamer.file_reader import ReaderPool, SourceFile
from services.streamer.pacer import Pacer
from services.streamer.publications import PublicationChanged, resolve_in_root

log = logging.getLogger(__name__)

RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
RETRY_AFTER_CAP_S = 60.0  # storage asking for longer is treated as if it asked for a minute


@dataclass(frozen=True)
class PushSettings:
    concurrency: int
    retries: int
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    progress_interval_s: float = 0.25


class PartFailed(Exception):
    pass


@dataclass(frozen=True)
class Part:
    index: int
    offset: int
    size: int
    url: str


def plan_parts(request: streamer_pb2.PushRequest) -> list[Part]:
    parts, offset = [], 0
    for index, part in enumerate(request.parts):
        if part.size <= 0:
            raise InvalidArgument(f"parts[{index}].size: must be positive")
        if not part.url.startswith(("http://", "https://")):
            raise InvalidArgument(f"parts[{index}].url: expected an http(s) URL")
        parts.append(Part(index, offset, part.size, part.url))
        offset += part.size
    if not parts:
        raise InvalidArgument("parts: at least one part is required")
    if offset != request.size:
        raise InvalidArgument(f"parts: sizes add up to {offset}, the file has {request.size} bytes")
    return parts


class Push:
    """One push; iterate `run()` for its progress, ending with COMPLETE, SOURCE_CHANGED or FAILED."""

    def __init__(self, request: streamer_pb2.PushRequest, root: Path, client: httpx.AsyncClient,
                 settings: PushSettings, reader: ReaderPool, pacer: Pacer) -> None:
        self.request = request
        self.parts = plan_parts(request)
        self.root = root
        self.client = client
        self.settings = settings
        self.reader = reader
        self.pacer = pacer
        self.push_id = uuid.uuid4().hex
        self.content_type = request.content_type or "application/octet-stream"
        self._stored = 0
        self._in_flight: dict[int, int] = {}
        self._meter = RateMeter()
        self._milestones = Milestones(request.size)

    @property
    def bytes_done(self) -> int:
        return self._stored + sum(self._in_flight.values())

    async def run(self) -> AsyncIterator[streamer_pb2.TransferProgress]:
        path = await self.reader.run(resolve_in_root, self.root, self.request.path)
        try:
            source = await self.reader.open(partial(os.open, path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as exc:
            yield self._progress(streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, f"cannot open: {exc.strerror}")
            return
        try:
            async for progress in self._run(source):
                yield progress
        finally:
            source.close()

    async def _run(self, source: SourceFile) -> AsyncIterator[streamer_pb2.TransferProgress]:
        try:
            await self._check(source)
        except PublicationChanged as exc:
            yield self._progress(streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, str(exc))
            return
        log.debug("pushing %s: %d bytes in %d parts", self.request.path, self.request.size, len(self.parts))
        queue: asyncio.Queue[Part] = asyncio.Queue()
        for part in self.parts:
            queue.put_nowait(part)
        concurrency = min(self.settings.concurrency, len(self.parts))
        workers = [asyncio.create_task(self._worker(source, queue)) for _ in range(concurrency)]
        try:
            pending = set(workers)
            while pending:
                done, pending = await asyncio.wait(pending, timeout=self.settings.progress_interval_s,
                                                   return_when=asyncio.FIRST_EXCEPTION)
                failed = next((t.exception() for t in done if t.exception() is not None), None)
                if failed is not None:
                    yield self._failure(failed)
                    return
                if pending:
                    yield self._progress(streamer_pb2.TRANSFER_PHASE_ACTIVE)
            log.info("%s: push complete, %d bytes", self.request.path, self.request.size)
            yield self._progress(streamer_pb2.TRANSFER_PHASE_COMPLETE)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def _failure(self, exc: BaseException) -> streamer_pb2.TransferProgress:
        if isinstance(exc, PublicationChanged):
            log.warning("%s: changed during the push (%s)", self.request.path, exc)
            return self._progress(streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, str(exc))
        log.warning("%s: push failed: %s", self.request.path, exc)
        return self._progress(streamer_pb2.TRANSFER_PHASE_FAILED, str(exc))

    async def _worker(self, source: SourceFile, queue: asyncio.Queue[Part]) -> None:
        while not queue.empty():
            part = queue.get_nowait()
            await self._put_part(source, part)
            self._stored += part.size
            del self._in_flight[part.index]
            for mark in self._milestones.passed(self._stored):
                log.info("%s: %d%% pushed", self.request.path, mark)

    async def _put_part(self, source: SourceFile, part: Part) -> None:
        headers = {"x-amz-acl": "private", "Content-Type": self.content_type, "Content-Length": str(part.size)}
        for attempt in range(self.settings.retries + 1):
            await self._check(source)
            self._in_flight[part.index] = 0
            retry_after = None
            try:
                response = await self.client.put(part.url, content=self._read(source, part), headers=headers)
            except httpx.TransportError as exc:
                problem = f"part {part.index + 1}: {type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    await self._check(source)  # what was read must still be the published file
                    return
                problem = f"part {part.index + 1}: HTTP {response.status_code}"
                if response.status_code not in RETRYABLE:
                    raise PartFailed(f"{problem}: {response.text[:200]}")
                retry_after = retry_after_s(response.headers)
            if attempt == self.settings.retries:
                raise PartFailed(f"{problem} (after {attempt + 1} attempts)")
            delay = (min(RETRY_AFTER_CAP_S, retry_after) if retry_after is not None
                     else backoff_delay(attempt + 1, self.settings.backoff_base_s, self.settings.backoff_max_s))
            log.info("%s: %s; retrying in %.1fs", self.request.path, problem, delay)
            await asyncio.sleep(delay)

    async def _read(self, source: SourceFile, part: Part) -> AsyncIterator[bytes]:
        reader = source.read_ahead(part.offset, part.offset + part.size)
        try:
            while piece := await reader.next():
                await self.pacer.take(len(piece))
                self._in_flight[part.index] += len(piece)
                self._meter.add(len(piece))
                yield bytes(piece)  # the buffer behind the view is reused once the next piece is asked for
        finally:
            reader.close()
        if self._in_flight[part.index] < part.size:
            raise PublicationChanged("the file shrank")

    async def _check(self, source: SourceFile) -> None:
        st = await source.stat()
        if (st.st_size, st.st_mtime_ns) != (self.request.size, self.request.mtime_ns):
            raise PublicationChanged("size or mtime changed")

    def _progress(self, phase: streamer_pb2.TransferPhase, error: str = "") -> streamer_pb2.TransferProgress:
        done = self.request.size if phase == streamer_pb2.TRANSFER_PHASE_COMPLETE else self.bytes_done
        return streamer_pb2.TransferProgress(
            ticket_id=self.push_id, job_id=self.request.job_id, path=self.request.path,
            kind=streamer_pb2.TRANSFER_KIND_PUSH, phase=phase, size=self.request.size, bytes_done=done,
            rate_bps=self._meter.rate(), active_connections=len(self._in_flight), error=error,
            trace_context=self.request.trace_context,
        )
