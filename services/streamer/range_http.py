"""The public Range server: `GET|HEAD /t/<token>` and `GET /livez`, nothing else (no
directory listing, no file path in any URL); revoked or expired → 410, unknown → 404.

Bodies go out zero-copy with os.sendfile, the head in the body's first segment, in 8 MiB
chunks with an fstat check between them. A file that changes while it is served is never
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
from services.streamer.http_connection import HttpConnection, HttpLimits, HttpServer
from services.streamer.http_request import Request
from services.streamer.progress import PullProgress
from services.streamer.publications import Publication, PublicationChanged, PublicationStore, open_source
from services.streamer.ranges import ByteRange
from services.streamer.response_plan import plan_response

log = logging.getLogger(__name__)

TOKEN_PATH = re.compile(r"/t/([A-Za-z0-9_-]{16,128})")
CHUNK = 8 * 1024 * 1024  # bytes per sendfile call; the file is re-checked between chunks


class Revoked(Exception):
    """The publication was revoked while a response was going out."""


class RangeServer:
    def __init__(self, publications: PublicationStore, progress: PullProgress, *, max_ranges: int,
                 max_connections_per_publication: int, tracer: Tracer | None = None,
                 limits: HttpLimits | None = None) -> None:
        self.publications = publications
        self.progress = progress
        self.max_ranges = max_ranges
        self.max_connections = max_connections_per_publication
        self.tracer = tracer or trace.get_tracer(__name__)
        self.http = HttpServer(self.respond, limits or HttpLimits())

    async def start(self, host: str, port: int) -> int:
        return await self.http.start(host, port)

    async def stop(self) -> None:
        await self.http.stop()

    @property
    def active_requests(self) -> int:
        """Requests for published files being answered right now."""
        return self.progress.connections()

    async def respond(self, conn: HttpConnection, request: Request) -> bool:
        """Answers one request; returns whether the connection may be reused."""
        head_only = request.method == "HEAD"
        if request.method not in ("GET", "HEAD"):
            await conn.send_simple(405, headers=[("Allow", "GET, HEAD")])
            return True
        if request.path == "/livez":
            await conn.send_simple(200, "ok", head_only=head_only)
            return True
        match = TOKEN_PATH.fullmatch(request.path)
        publication = self.publications.by_token(match[1]) if match else None
        if publication is None:
            await conn.send_simple(404, head_only=head_only)
            return True
        if gone := publication.gone():
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
        exchange = Exchange(conn, publication, self.progress)
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
    fd: int = -1
    status: int = 0
    sent: int = 0  # body bytes of the file sent

    async def serve(self, request: Request, max_ranges: int) -> bool:
        head_only = request.method == "HEAD"
        try:
            self.fd = open_source(self.publication)
        except PublicationChanged as exc:
            self.progress.source_changed(self.publication, str(exc))
            self.status = 410
            await self.conn.send_simple(410, "the file changed since it was published", head_only=head_only)
            return True
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
                return await self._send_body(plan.pieces)
            finally:
                self.conn.end_response()
        finally:
            os.close(self.fd)

    async def _send_body(self, pieces: list[bytes | ByteRange]) -> bool:
        publication = self.publication
        try:
            for index, piece in enumerate(pieces):
                final = index == len(pieces) - 1
                if isinstance(piece, bytes):
                    if final:
                        self._check()
                    await self.conn.send(piece, more=not final)
                elif not final:
                    await self._send_range(piece.start, piece.end + 1)
                else:  # the very last byte goes out only after a last check of the file
                    await self._send_range(piece.start, piece.end)
                    self._check()
                    await self._send_range(piece.end, piece.end + 1)
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

    async def _send_range(self, start: int, stop: int) -> None:
        offset = start
        while offset < stop:
            if offset > start:
                self._check()  # after the last chunk, the caller checks
            count = min(CHUNK, stop - offset)
            done = await self.conn.sendfile(self.fd, offset, count)
            self.progress.served(self.publication, offset, offset + done)
            offset += done
            self.sent += done
            if done < count:
                raise PublicationChanged("the file shrank")

    def _check(self) -> None:
        if not self.publication.matches(os.fstat(self.fd)):
            raise PublicationChanged("size or mtime changed while serving")
        if self.publication.revoked_at is not None:
            raise Revoked()
