"""The public Range server: `GET|HEAD /t/<token>` and `GET /livez`, nothing else (no
directory listing, no file path in any URL); revoked, expired or withdrawn (its pipeline
removed by a config reload) → 410, unknown → 404. Besides, `POST /hooks/frameio/<hook>`
takes Frame.io's webhooks (`frameio_hooks.py`).

The event loop never waits on storage: the file is opened, stat'ed and read on the reader
pool's threads (`file_reader.py`), read ahead in parallel. Bodies go out zero-copy with
os.sendfile from the loop only where that cannot wait: pages resident in the page cache
of a file system that reads them without waiting (`page_cache.py`), as on a warm local
disk; elsewhere from the read-ahead buffers. The head rides in the body's first segment.
Body bytes go out as the shared bandwidth limit grants them (`pacer.py`).
The file is checked between 8 MiB chunks. A file that changes while it is served is never
delivered torn: the last byte of every body is held back until the file has been checked
once more, and on any change the connection is reset (the client sees a short body) and
a SOURCE_CHANGED event is reported. Multiple ranges get a correct multipart/byteranges
body (see `ranges.py` for the other choices RFC 9110 leaves open).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from postflow.core.logs import job_id_var
from postflow.frameio_review import HOOKS_PREFIX
from services.streamer.file_reader import ReadAhead, ReaderPool, SourceFile
from services.streamer.frameio_hooks import FrameioHooks
from services.streamer.http_connection import HttpConnection, HttpLimits, HttpServer, SendfileRefused
from services.streamer.http_request import Request
from services.streamer.open_files import OpenFiles
from services.streamer.pacer import Pacer
from services.streamer.progress import PullProgress
from services.streamer.publications import Publication, PublicationChanged, PublicationStore
from services.streamer.ranges import ByteRange
from services.streamer.response_plan import plan_response

log = logging.getLogger(__name__)

TOKEN_PATH = re.compile(r"/t/([A-Za-z0-9_-]{16,128})")
CHUNK = 8 * 1024 * 1024  # the file is re-checked between chunks (at multiples of CHUNK, as pieces are read)


class Revoked(Exception):
    """The publication was revoked while a response was going out."""


class RangeServer:
    def __init__(self, publications: PublicationStore, progress: PullProgress, *, max_ranges: int,
                 max_connections_per_publication: int, tracer: Tracer | None = None,
                 limits: HttpLimits | None = None, reader: ReaderPool | None = None,
                 pacer: Pacer | None = None, hooks: FrameioHooks | None = None) -> None:
        self.publications = publications
        self.hooks = hooks
        self.progress = progress
        self.reader = reader or ReaderPool()
        self.files = OpenFiles(self.reader)
        self.max_ranges = max_ranges
        self.max_connections = max_connections_per_publication
        self.tracer = tracer or trace.get_tracer(__name__)
        self.http = HttpServer(self.respond, limits or HttpLimits(), pacer)

    async def start(self, host: str, port: int) -> int:
        return await self.http.start(host, port)

    async def stop(self) -> None:
        await self.http.stop()
        self.files.close()

    @property
    def active_requests(self) -> int:
        """Requests for published files being answered right now."""
        return self.progress.connections()

    async def respond(self, conn: HttpConnection, request: Request) -> bool:
        """Answers one request; returns whether the connection may be reused."""
        head_only = request.method == "HEAD"
        if request.method == "POST" and self.hooks is not None and request.path.startswith(HOOKS_PREFIX):
            return await self.hooks.respond(conn, request)
        if request.method not in ("GET", "HEAD"):
            unread_body = int(request.headers.get("content-length") or 0) > 0
            await conn.send_simple(405, headers=[("Allow", "GET, HEAD")], close=unread_body)
            return not unread_body
        if request.path == "/livez":
            await conn.send_simple(200, "ok", head_only=head_only)
            return True
        match = TOKEN_PATH.fullmatch(request.path)
        publication = self.publications.by_token(match[1]) if match else None
        if publication is None:
            await conn.send_simple(404, head_only=head_only)
            return True
        if gone := self.publications.ended(publication):
            await conn.send_simple(410, f"publication {gone}", head_only=head_only)
            return True
        ticket = publication.ticket_id
        if self.progress.connections(ticket) >= self.max_connections:
            await conn.send_simple(503, "too many connections to this publication", head_only=head_only,
                                   headers=[("Retry-After", "1")])
            return True
        job_id_var.set(publication.job_id)
        self.progress.opened(publication)
        span = self.tracer.start_span(
            "postflow.range", context=publication.parent_context, kind=SpanKind.SERVER,
            attributes={"postflow.job_id": publication.job_id, "postflow.ticket_id": ticket,
                        "http.request.method": request.method, "http.range": request.headers.get("range", "")})
        scope = otel_context.attach(trace.set_span_in_context(span))
        exchange = Exchange(conn, publication, self.progress, self.files)
        try:
            return await exchange.serve(request, self.max_ranges)
        finally:
            otel_context.detach(scope)
            span.set_attributes({"http.response.status_code": exchange.status, "postflow.bytes_sent": exchange.sent})
            span.end()
            self.progress.closed(publication)


@dataclass
class Exchange:
    """One request for a published file and its response."""

    conn: HttpConnection
    publication: Publication
    progress: PullProgress
    files: OpenFiles
    status: int = 0
    sent: int = 0  # body bytes of the file sent

    async def serve(self, request: Request, max_ranges: int) -> bool:
        head_only = request.method == "HEAD"
        try:
            opened = await self.files.acquire(self.publication)
        except PublicationChanged as exc:
            self.progress.source_changed(self.publication, str(exc))
            self.status = 410
            await self.conn.send_simple(410, "the file changed since it was published", head_only=head_only)
            return True
        source = opened.source
        try:
            plan = plan_response(request.method, request.headers, self.publication.representation, max_ranges)
            self.status = plan.status
            if plan.error is not None:
                await self.conn.send_simple(plan.status, plan.error, head_only=head_only, headers=plan.headers)
                return True
            if head_only or not plan.pieces:
                await self.conn.send_head(plan.status, plan.headers, fields=plan.fields)
                if not head_only:
                    self.progress.served(self.publication, 0, 0)
                return True
            try:
                await self.conn.send_head(plan.status, plan.headers, fields=plan.fields, more=True)
                return await self._send_body(source, plan.pieces)
            finally:
                self.conn.end_response()
        finally:
            self.files.release(opened)

    async def _send_body(self, source: SourceFile, pieces: list[bytes | ByteRange]) -> bool:
        publication = self.publication
        try:
            for index, piece in enumerate(pieces):
                final = index == len(pieces) - 1
                if isinstance(piece, bytes):
                    if final:
                        await self._check(source)
                    await self.conn.send(piece, more=not final, paced=True)
                else:
                    await self._send_range(source, piece.start, piece.end + 1, final)
            return True
        except PublicationChanged as exc:
            self.conn.abort()
            self.progress.source_changed(publication, str(exc))
        except Revoked:
            log.info("%s: revoked while being served; connection closed after %d bytes", publication.path, self.sent)
            self.conn.abort()
        except (ConnectionError, TimeoutError) as exc:
            # A puller hanging up (or stalling) is normal: INFO, never ERROR.
            log.info("%s: client went away after %d bytes (%s)", publication.path, self.sent,
                     str(exc) or type(exc).__name__)
            self.conn.abort()
        return False

    async def _send_range(self, source: SourceFile, start: int, stop: int, final: bool) -> None:
        """Sends [start, stop) chunk by chunk: by sendfile while that cannot wait, then (from
        the first chunk where it could) from the read-ahead. `final`: the body ends here, and
        its very last byte goes out only after a last check of the file."""
        offset = start
        reader: ReadAhead | None = None
        try:
            while offset < stop:
                if offset > start:
                    await self._check(source)
                end = min(stop, (offset // CHUNK + 1) * CHUNK)
                hold = final and end == stop
                if reader is None and source.sendable(offset, end - offset):
                    offset = await self._sendfile(source, offset, end, hold)
                else:
                    reader = reader or source.read_ahead(offset, stop, stat_at_end=final)
                    offset = await self._send_read(source, reader, offset, end, hold)
        finally:
            if reader is not None:
                reader.close()

    async def _sendfile(self, source: SourceFile, offset: int, end: int, hold: bool) -> int:
        """Returns where it stopped: `end`, or sooner if the file system refused sendfile."""
        for index, stop in enumerate((end - 1, end) if hold else (end,)):
            if index:
                await self._check(source)
            try:
                done = await self.conn.sendfile(source.fd, offset, stop - offset)
            except SendfileRefused as exc:
                source.nowait = False  # the rest of this file is read and sent
                self._served(offset, exc.sent)
                return offset + exc.sent
            self._served(offset, done)
            if done < stop - offset:
                raise PublicationChanged("the file shrank")
            offset = stop
        return end

    async def _send_read(self, source: SourceFile, reader: ReadAhead, offset: int, end: int, hold: bool) -> int:
        while offset < end:
            data = await reader.next()
            if not data:
                raise PublicationChanged("the file shrank")
            if hold and offset + len(data) == end:
                await self.conn.send(data[:-1], more=True, paced=True)
                await self._check(source, reader.end_stat)
                await self.conn.send(data[-1:], paced=True)
            else:
                await self.conn.send(data, more=True, paced=True)
            self._served(offset, len(data))
            offset += len(data)
        return offset

    def _served(self, offset: int, count: int) -> None:
        self.progress.served(self.publication, offset, offset + count)
        self.sent += count

    async def _check(self, source: SourceFile, st: os.stat_result | None = None) -> None:
        """Raises unless the file is still the published one; `st`: its stat, if just taken."""
        if not self.publication.matches(st if st is not None else await source.stat()):
            raise PublicationChanged("size or mtime changed while serving")
        if self.publication.revoked_at is not None:
            raise Revoked()
