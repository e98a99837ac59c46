"""A fake StreamerService that the test drives.

Tunnel: `tunnel` is the status it reports; `set_tunnel` changes it and tells every
WatchEvents stream, `transfer` sends a TransferProgress there. Files, once `serving_files()`
runs: Publish hands out URLs of a small Range server (Starlette's FileResponse on uvicorn)
under the tunnel's public URL, which reports the bytes it serves as pull progress, notices a
changed source (409), can be slowed (`serve_bytes_per_s`) or made unreachable (502, as a
dead tunnel's edge answers); `change_tunnel_url` and `tunnel_down` act like a quick tunnel
restarting or dying. Push sends the parts with plain PUTs as their batches arrive, one at a
time, reporting on the Push stream (and, if asked, a copy marked with 99 connections on
WatchEvents, as the streamer once did); a refused part ends it FAILED, or URLS_EXPIRED when
storage says the URL expired, as the streamer does."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from postflow.core.errors import FailedPrecondition, NotFound
from postflow.core.net import listen
from postflow.core.protos import timestamp
from postflow.core.pubsub import Overflow, Topic
from postflow.testing.fakes.messages import assign, follow
from postflow.testing.fakes.published_files import CountingResponse, Ticket, range_start
from postflow.v1 import streamer_pb2, streamer_pb2_grpc
from services.streamer.push import StorageAnswer

EVENT_BUFFER = 512  # the streamer's event stream keeps the newest events of a slow reader
PUBLICATION_TTL_S = 3600
UP = streamer_pb2.TUNNEL_STATE_UP


class FakeStreamer(streamer_pb2_grpc.StreamerServiceServicer):
    def __init__(self, root: Path | None = None) -> None:
        self.root = root  # the watch root, whose files Publish and Push read
        self.roots: dict[str, Path] = {}  # pipeline → its root, for a pipeline whose root is not `root`
        self.tunnel = streamer_pb2.TunnelStatus(mode=streamer_pb2.TUNNEL_MODE_QUICK, state=UP,
                                                public_url="https://quiet-river.trycloudflare.com",
                                                since=timestamp(time.time() - 3600))
        self.http_base = ""  # the Range server's, while `serving_files()` runs
        self.prefix = "a"  # the tunnel's hostname, as far as the Range server's paths go
        self.tickets: dict[str, Ticket] = {}
        self.by_token: dict[str, Ticket] = {}
        self.hold_publish: asyncio.Event | None = None  # set → Publish proceeds
        self.serve_bytes_per_s: float | None = None  # a slow mount or uplink
        self.unreachable = False  # the tunnel's edge answers 502 (the URL is dead)
        self.die_after_publish = False  # the tunnel dies right after the next Publish answers
        self.push_on_watch_events = False
        self.connections = 0  # GETs being answered now
        self.publish_calls = 0
        self.push_calls = 0
        self.requests: list[tuple[str, str]] = []  # (method, Range) served
        self.live: Topic[streamer_pb2.StreamerEvent] = Topic(EVENT_BUFFER, Overflow.DROP_OLDEST,
                                                              name="fake WatchEvents")
        self._seq = itertools.count(1)

    # -- driven by the test ------------------------------------------------------------------

    def set_tunnel(self, **fields: Any) -> None:
        assign(self.tunnel, **fields)
        self._publish(tunnel=self.tunnel)

    def transfer(self, **fields: Any) -> None:
        self._publish(transfer=streamer_pb2.TransferProgress(**fields))

    def change_tunnel_url(self) -> None:
        """Like a quick tunnel restarting: the old URLs die, a new base is announced."""
        self.prefix = secrets.token_hex(4)
        self.set_tunnel(public_url=self.public_url)

    def tunnel_down(self) -> None:
        """Like cloudflared dying for good: its URLs answer 502 and the tunnel is DOWN."""
        self.unreachable = True
        self.set_tunnel(state=streamer_pb2.TUNNEL_STATE_DOWN, public_url="")

    def publish_now(self, relpath: str, job_id: str, pipeline: str = "") -> streamer_pb2.Publication:
        path = self._source(relpath, pipeline)
        st = os.stat(path)
        ticket = Ticket(secrets.token_hex(6), secrets.token_urlsafe(16), path, relpath, st.st_size, st.st_mtime_ns,
                        job_id, self.public_url)
        self.tickets[ticket.id] = ticket
        self.by_token[ticket.token] = ticket
        return self._publication(ticket)

    @property
    def public_url(self) -> str:
        return f"{self.http_base}/{self.prefix}"

    def _publish(self, **payload: Any) -> None:
        self.live.publish(streamer_pb2.StreamerEvent(seq=next(self._seq), at=timestamp(), **payload))

    def _source(self, relpath: str, pipeline: str) -> Path:
        root = self.roots.get(pipeline, self.root)
        if root is None:
            raise FailedPrecondition("this fake streamer was given no watch root")
        return root / relpath

    # -- the Range server ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serving_files(self) -> AsyncIterator[None]:
        """The Range server on a loopback port, announced as the tunnel's public URL."""
        app = Starlette(routes=[Route("/{prefix}/t/{token}", self._serve, methods=["GET", "HEAD"])])
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        sock = listen("127.0.0.1", 0)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self.http_base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.set_tunnel(public_url=self.public_url)
        try:
            yield
        finally:
            server.should_exit = True
            await task
            sock.close()

    async def _serve(self, request: Request) -> Response | ASGIApp:
        if self.unreachable:
            return Response(status_code=502)
        ticket = self.by_token.get(request.path_params["token"])
        if ticket is None or ticket.revoked or request.path_params["prefix"] != self.prefix:
            return Response(status_code=404)
        st = await asyncio.to_thread(os.stat, ticket.path)
        if (st.st_size, st.st_mtime_ns) != (ticket.size, ticket.mtime_ns):
            self._pulled(ticket, streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, error="the file changed")
            return Response(status_code=409)
        self.requests.append((request.method, request.headers.get("range", "")))
        response = FileResponse(ticket.path, headers={"Cache-Control": "no-store"},
                                media_type="application/octet-stream")
        if request.method == "HEAD":
            return response
        start = range_start(request.headers.get("range", ""))
        return CountingResponse(response, lambda sent: self._served(ticket, start, sent),
                                lambda: self.serve_bytes_per_s, lambda: self.unreachable, self._count_connection)

    def _count_connection(self, delta: int) -> None:
        self.connections += delta

    def _served(self, ticket: Ticket, start: int, sent: int) -> None:
        covered = ticket.cover(start, start + sent)
        done = covered >= ticket.size
        self._pulled(ticket, streamer_pb2.TRANSFER_PHASE_COMPLETE if done else streamer_pb2.TRANSFER_PHASE_ACTIVE,
                     bytes_done=covered)

    def _pulled(self, ticket: Ticket, phase: streamer_pb2.TransferPhase, bytes_done: int = 0, error: str = "") -> None:
        self.transfer(ticket_id=ticket.id, job_id=ticket.job_id, path=ticket.relpath,
                      kind=streamer_pb2.TRANSFER_KIND_PULL, phase=phase, size=ticket.size, bytes_done=bytes_done,
                      rate_bps=1e6, active_connections=self.connections, error=error)

    # -- the service ---------------------------------------------------------------------------

    async def Publish(self, request: streamer_pb2.PublishRequest,
                      context: grpc.aio.ServicerContext) -> streamer_pb2.Publication:
        self.publish_calls += 1
        if self.hold_publish is not None:
            await self.hold_publish.wait()
        try:
            st = await asyncio.to_thread(os.stat, self._source(request.path, request.pipeline))
        except FileNotFoundError:
            raise NotFound(f"{request.path}: no such file") from None
        if (st.st_size, st.st_mtime_ns) != (request.size, request.mtime_ns):
            raise FailedPrecondition(f"{request.path}: changed since")
        publication = self.publish_now(request.path, request.job_id, request.pipeline)
        if self.die_after_publish:
            self.die_after_publish = False
            self.tunnel_down()
        return publication

    def _publication(self, ticket: Ticket) -> streamer_pb2.Publication:
        return streamer_pb2.Publication(
            ticket_id=ticket.id, url=f"{ticket.base}/t/{ticket.token}" if self.tunnel.state == UP else "",
            path=ticket.relpath, size=ticket.size, mtime_ns=ticket.mtime_ns, job_id=ticket.job_id,
            revoked=ticket.revoked, bytes_covered=ticket.bytes_covered,
            expires_at=timestamp(time.time() + PUBLICATION_TTL_S))

    def _ticket(self, ticket_id: str) -> Ticket:
        if ticket_id not in self.tickets:
            raise NotFound("no such ticket")
        return self.tickets[ticket_id]

    async def Revoke(self, request: streamer_pb2.RevokeRequest,
                     context: grpc.aio.ServicerContext) -> streamer_pb2.RevokeResponse:
        self._ticket(request.ticket_id).revoked = True
        return streamer_pb2.RevokeResponse(revoked=True)

    async def GetPublication(self, request: streamer_pb2.GetPublicationRequest,
                             context: grpc.aio.ServicerContext) -> streamer_pb2.Publication:
        return self._publication(self._ticket(request.ticket_id))

    async def GetTunnelStatus(self, request: streamer_pb2.GetTunnelStatusRequest,
                              context: grpc.aio.ServicerContext) -> streamer_pb2.TunnelStatus:
        return self.tunnel

    def WatchEvents(self, request: streamer_pb2.WatchStreamerEventsRequest,
                    context: grpc.aio.ServicerContext) -> AsyncIterator[streamer_pb2.StreamerEvent]:
        first = streamer_pb2.StreamerEvent(seq=next(self._seq), at=timestamp(), tunnel=self.tunnel)
        return follow(self.live, [first])

    async def Push(self, requests: AsyncIterator[streamer_pb2.PushRequest],
                   context: grpc.aio.ServicerContext) -> AsyncIterator[streamer_pb2.TransferProgress]:
        self.push_calls += 1
        header = (await anext(requests)).header
        path = self._source(header.path, header.pipeline)
        headers = {"x-amz-acl": "private", "content-type": header.content_type or "application/octet-stream"}
        done = 0
        async with httpx.AsyncClient(timeout=30) as client:
            async for batch in requests:
                for part in batch.parts.parts:
                    chunk = await asyncio.to_thread(read_part, path, done, part.size)
                    response = await client.put(part.url, content=chunk, headers=headers)
                    if response.status_code >= 300:
                        answer = StorageAnswer.of(response)
                        phase = (streamer_pb2.TRANSFER_PHASE_URLS_EXPIRED if answer.url_expired
                                 else streamer_pb2.TRANSFER_PHASE_FAILED)
                        yield self._pushed(header, phase, done, f"part PUT answered {answer}")
                        return
                    done += len(chunk)
                    yield self._pushed(header, streamer_pb2.TRANSFER_PHASE_ACTIVE, done)
        yield self._pushed(header, streamer_pb2.TRANSFER_PHASE_COMPLETE, done)

    def _pushed(self, header: streamer_pb2.PushHeader, phase: streamer_pb2.TransferPhase, done: int,
                error: str = "") -> streamer_pb2.TransferProgress:
        """One part in flight at a time."""
        progress = streamer_pb2.TransferProgress(job_id=header.job_id, path=header.path,
                                                 kind=streamer_pb2.TRANSFER_KIND_PUSH, phase=phase, size=header.size,
                                                 bytes_done=done, rate_bps=1e6, active_connections=1, error=error)
        if self.push_on_watch_events:
            copy = streamer_pb2.TransferProgress()
            copy.CopyFrom(progress)
            copy.active_connections = 99
            self._publish(transfer=copy)
        return progress


def read_part(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as source:
        source.seek(offset)
        return source.read(size)
