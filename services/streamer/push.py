"""Push uploads: a file's parts PUT to Frame.io's pre-signed part URLs in parallel as their
URLs arrive (`push_parts.py`), each part read straight from the file, ahead and in parallel
on the reader pool's threads (never the whole file in memory, at most `concurrency` parts in
flight; the loop never waits on storage), retried with exponential backoff and jitter per
part. Every piece read is paid for on the bandwidth limit (`pacer.py`) the pulls served
share before it is handed to the HTTP client.

Storage's answers: 408, 425, 429, 5xx and S3's `400 RequestTimeout` (a slow upload; AWS's
SDKs retry it) are retried. An expired URL (S3's `403 AccessDenied` "Request has expired",
or `400 ExpiredToken` when the signing session ended) ends the push as URLS_EXPIRED: no
retry can help, and Frame.io has no way to sign new URLs for the file. Any other refusal
fails the push."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from html import unescape
from pathlib import Path

import httpx

from postflow.core.backoff import backoff_delay
from postflow.frameio_limits import retry_after_s
from postflow.v1 import streamer_pb2
from services.streamer.coverage import Milestones, RateMeter
from services.streamer.file_reader import ReaderPool, SourceFile
from services.streamer.pacer import Pacer
from services.streamer.publications import PublicationChanged, resolve_in_root
from services.streamer.push_parts import Part, PartFeed

log = logging.getLogger(__name__)

RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
RETRYABLE_S3_CODES = {"RequestTimeout"}  # answered with 400
RETRY_AFTER_CAP_S = 60.0  # storage asking for longer is treated as if it asked for a minute
_S3_CODE = re.compile(r"<Code>([^<]*)</Code>")
_S3_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


@dataclass(frozen=True)
class PushSettings:
    concurrency: int
    retries: int
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    progress_interval_s: float = 0.25


class PartFailed(Exception):
    pass


class UrlExpired(PartFailed):
    """Storage refused a part because its pre-signed URL expired."""


@dataclass(frozen=True)
class StorageAnswer:
    """A part PUT's refusal: the status and, for S3's XML errors, its code and message."""

    status: int
    code: str
    message: str

    @classmethod
    def of(cls, response: httpx.Response) -> StorageAnswer:
        text = response.text
        code, message = _S3_CODE.search(text), _S3_MESSAGE.search(text)
        return cls(response.status_code, unescape(code.group(1)) if code else "",
                   unescape(message.group(1)) if message else text[:200])

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE or (self.status == 400 and self.code in RETRYABLE_S3_CODES)

    @property
    def url_expired(self) -> bool:
        return ((self.status == 403 and self.code == "AccessDenied" and "expired" in self.message.lower())
                or (self.status == 400 and self.code == "ExpiredToken"))

    def __str__(self) -> str:
        said = " ".join(filter(None, [f"HTTP {self.status}", self.code]))
        return f"{said}: {self.message}" if self.message else said


class Push:
    """One push; iterate `run()` for its progress, ending with COMPLETE, SOURCE_CHANGED,
    URLS_EXPIRED or FAILED. `requests`: the rest of the call after its header, the parts."""

    def __init__(self, header: streamer_pb2.PushHeader, requests: AsyncIterator[streamer_pb2.PushRequest],
                 root: Path, client: httpx.AsyncClient, settings: PushSettings, reader: ReaderPool,
                 pacer: Pacer) -> None:
        self.header = header
        self.concurrency = min(settings.concurrency, header.part_count)
        self.feed = PartFeed(header, requests, self.concurrency)
        self.root = root
        self.client = client
        self.settings = settings
        self.reader = reader
        self.pacer = pacer
        self.push_id = uuid.uuid4().hex
        self.content_type = header.content_type or "application/octet-stream"
        self._stored = 0
        self._in_flight: dict[int, int] = {}
        self._meter = RateMeter()
        self._milestones = Milestones(header.size)

    @property
    def bytes_done(self) -> int:
        return self._stored + sum(self._in_flight.values())

    async def run(self) -> AsyncIterator[streamer_pb2.TransferProgress]:
        path = await self.reader.run(resolve_in_root, self.root, self.header.path)
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
        log.debug("pushing %s: %d bytes in %d parts", self.header.path, self.header.size, self.header.part_count)
        feeding = asyncio.create_task(self.feed.run())
        workers = [asyncio.create_task(self._worker(source)) for _ in range(self.concurrency)]
        try:
            pending = {feeding, *workers}
            while pending:
                done, pending = await asyncio.wait(pending, timeout=self.settings.progress_interval_s,
                                                   return_when=asyncio.FIRST_EXCEPTION)
                if feeding in done and (malformed := feeding.exception()) is not None:
                    raise malformed  # the call fails with INVALID_ARGUMENT
                failed = next((t.exception() for t in done if t.exception() is not None), None)
                if failed is not None:
                    yield self._failure(failed)
                    return
                if pending:
                    yield self._progress(streamer_pb2.TRANSFER_PHASE_ACTIVE)
            log.info("%s: push complete, %d bytes", self.header.path, self.header.size)
            yield self._progress(streamer_pb2.TRANSFER_PHASE_COMPLETE)
        finally:
            for task in (feeding, *workers):
                task.cancel()
            await asyncio.gather(feeding, *workers, return_exceptions=True)

    def _failure(self, exc: BaseException) -> streamer_pb2.TransferProgress:
        if isinstance(exc, PublicationChanged):
            log.warning("%s: changed during the push (%s)", self.header.path, exc)
            return self._progress(streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, str(exc))
        log.warning("%s: push failed: %s", self.header.path, exc)
        if isinstance(exc, UrlExpired):
            return self._progress(streamer_pb2.TRANSFER_PHASE_URLS_EXPIRED, str(exc))
        return self._progress(streamer_pb2.TRANSFER_PHASE_FAILED, str(exc))

    async def _worker(self, source: SourceFile) -> None:
        while (part := await self.feed.queue.get()) is not None:
            await self._put_part(source, part)
            self._stored += part.size
            del self._in_flight[part.index]
            for mark in self._milestones.passed(self._stored):
                log.info("%s: %d%% pushed", self.header.path, mark)

    async def _put_part(self, source: SourceFile, part: Part) -> None:
        headers = {"x-amz-acl": "private", "Content-Type": self.content_type, "Content-Length": str(part.size)}
        for attempt in range(self.settings.retries + 1):
            if attempt:  # the push checked the file before any part; each success checks it after
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
                answer = StorageAnswer.of(response)
                problem = f"part {part.index + 1}: {answer}"
                if answer.url_expired:
                    raise UrlExpired(f"{problem} (the part URLs expired)")
                if not answer.retryable:
                    raise PartFailed(problem)
                retry_after = retry_after_s(response.headers)
            if attempt == self.settings.retries:
                raise PartFailed(f"{problem} (after {attempt + 1} attempts)")
            delay = (min(RETRY_AFTER_CAP_S, retry_after) if retry_after is not None
                     else backoff_delay(attempt + 1, self.settings.backoff_base_s, self.settings.backoff_max_s))
            log.info("%s: %s; retrying in %.1fs", self.header.path, problem, delay)
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
        if (st.st_size, st.st_mtime_ns) != (self.header.size, self.header.mtime_ns):
            raise PublicationChanged("size or mtime changed")

    def _progress(self, phase: streamer_pb2.TransferPhase, error: str = "") -> streamer_pb2.TransferProgress:
        done = self.header.size if phase == streamer_pb2.TRANSFER_PHASE_COMPLETE else self.bytes_done
        return streamer_pb2.TransferProgress(
            ticket_id=self.push_id, job_id=self.header.job_id, path=self.header.path,
            kind=streamer_pb2.TRANSFER_KIND_PUSH, phase=phase, size=self.header.size, bytes_done=done,
            rate_bps=self._meter.rate(), active_connections=len(self._in_flight), error=error,
            trace_context=self.header.trace_context,
        )
