"""Small in-test stand-ins for the auth and streamer services (the real ones are other
helpers' work and are exercised by the cross-service e2e tests).

FakeAuth hands out tokens it gets from the emulator (client_credentials with the dev
client) and can be told to answer FAILED_PRECONDITION (reconnect needed). FakeStreamer
publishes files through a tiny Range server (Starlette FileResponse on uvicorn), reports
bytes served, detects changed sources, pushes parts with plain PUTs, and can change its
public URL like a quick tunnel restarting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import uvicorn
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.applications import Starlette
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from postflow.v1 import auth_pb2, auth_pb2_grpc, streamer_pb2, streamer_pb2_grpc
from tests.support import wait_for

DEV_CLIENT = ("postflow-dev", "postflow-dev-secret")


class Broadcast:
    """Every item published reaches every open stream."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue] = set()

    def publish(self, item) -> None:
        for queue in self._queues:
            queue.put_nowait(item)

    async def stream(self, first):
        queue: asyncio.Queue = asyncio.Queue()
        self._queues.add(queue)
        try:
            yield first
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)


class FakeAuth(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, emulator_url: str) -> None:
        self.emulator_url = emulator_url
        self.token = ""
        self.reconnect_needed = False
        self.requests: list[auth_pb2.GetAccessTokenRequest] = []
        self._changes = Broadcast()

    def status(self) -> auth_pb2.AuthStatus:
        state = auth_pb2.AUTH_STATE_RECONNECT_NEEDED if self.reconnect_needed else auth_pb2.AUTH_STATE_CONNECTED
        return auth_pb2.AuthStatus(state=state, grant=auth_pb2.GRANT_KIND_SERVER_TO_SERVER)

    def set_reconnect_needed(self, value: bool) -> None:
        self.reconnect_needed = value
        self._changes.publish(self.status())

    async def fetch_token(self) -> str:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.emulator_url}/ims/token/v3", data={
                "grant_type": "client_credentials", "client_id": DEV_CLIENT[0], "client_secret": DEV_CLIENT[1],
                "scope": "openid AdobeID frame.s2s.all"})
        response.raise_for_status()
        return response.json()["access_token"]

    async def GetAccessToken(self, request, context):
        self.requests.append(request)
        if self.reconnect_needed:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "reconnect needed")
        if not self.token or (request.force_refresh and request.rejected_token == self.token):
            self.token = await self.fetch_token()
        return auth_pb2.AccessToken(access_token=self.token)

    async def GetStatus(self, request, context):
        return self.status()

    async def WatchStatus(self, request, context):
        async for status in self._changes.stream(self.status()):
            yield status


@dataclass
class Ticket:
    id: str
    token: str
    path: Path
    relpath: str
    size: int
    mtime_ns: int
    job_id: str
    base: str
    revoked: bool = False
    covered: list[tuple[int, int]] = field(default_factory=list)

    def cover(self, start: int, end: int) -> int:
        spans = sorted([*self.covered, (start, end)])
        merged = [spans[0]]
        for lo, hi in spans[1:]:
            if lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self.covered = merged
        return sum(hi - lo for lo, hi in merged)


class FakeStreamer(streamer_pb2_grpc.StreamerServiceServicer):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tickets: dict[str, Ticket] = {}
        self.by_token: dict[str, Ticket] = {}
        self.http_base = ""
        self.prefix = "a"
        self.tunnel_up = True
        self.hold_publish: asyncio.Event | None = None  # set → Publish proceeds
        self.serve_bytes_per_s: float | None = None  # a slow mount or uplink
        self.unreachable = False  # the tunnel's edge answers 502 (the URL is dead)
        self.die_after_publish = False  # the tunnel dies right after the next Publish answers
        self.tunnel_since = 0.0  # when the tunnel came up (epoch seconds; 0: long ago)
        self.push_on_watch_events = False  # also publish push progress on WatchEvents (as the streamer once did)
        self.connections = 0  # GETs being answered now
        self.publish_calls = 0
        self.push_calls = 0
        self.requests: list[tuple[str, str]] = []  # (method, range) served
        self._events = Broadcast()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    # -- the Range server -------------------------------------------------------------------

    async def start_http(self) -> None:
        app = Starlette(routes=[Route("/{prefix}/t/{token}", self._serve, methods=["GET", "HEAD"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        await wait_for(lambda: self._server.started, interval=0.01, message="the fake Range server")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.http_base = f"http://127.0.0.1:{port}"

    async def stop_http(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            await self._task

    @property
    def public_url(self) -> str:
        return f"{self.http_base}/{self.prefix}"

    async def _serve(self, request):
        if self.unreachable:
            return Response(status_code=502)
        ticket = self.by_token.get(request.path_params["token"])
        if ticket is None or ticket.revoked or request.path_params["prefix"] != self.prefix:
            return Response(status_code=404)
        st = os.stat(ticket.path)
        if (st.st_size, st.st_mtime_ns) != (ticket.size, ticket.mtime_ns):
            self._transfer(ticket, streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, error="the file changed")
            return Response(status_code=409)
        self.requests.append((request.method, request.headers.get("range", "")))
        response = FileResponse(ticket.path, headers={"Cache-Control": "no-store"},
                                media_type="application/octet-stream")
        if request.method == "HEAD":
            return response
        start = _range_start(request.headers.get("range", ""))
        return _Counting(response, lambda n: self._served(ticket, start, n), lambda: self.serve_bytes_per_s,
                         lambda: self.unreachable, self._count_connection)

    def _count_connection(self, delta: int) -> None:
        self.connections += delta

    def _served(self, ticket: Ticket, start: int, sent: int) -> None:
        covered = ticket.cover(start, start + sent)
        phase = streamer_pb2.TRANSFER_PHASE_COMPLETE if covered >= ticket.size else streamer_pb2.TRANSFER_PHASE_ACTIVE
        self._transfer(ticket, phase, bytes_done=covered)

    def _transfer(self, ticket: Ticket, phase: int, bytes_done: int = 0, error: str = "") -> None:
        self._emit(streamer_pb2.StreamerEvent(transfer=streamer_pb2.TransferProgress(
            ticket_id=ticket.id, job_id=ticket.job_id, path=ticket.relpath, kind=streamer_pb2.TRANSFER_KIND_PULL,
            phase=phase, size=ticket.size, bytes_done=bytes_done, rate_bps=1e6, active_connections=self.connections,
            error=error)))

    def _emit(self, event: streamer_pb2.StreamerEvent) -> None:
        self._events.publish(event)

    def tunnel_status(self) -> streamer_pb2.TunnelStatus:
        state = streamer_pb2.TUNNEL_STATE_UP if self.tunnel_up else streamer_pb2.TUNNEL_STATE_DOWN
        since = Timestamp()
        since.FromMicroseconds(int(self.tunnel_since * 1e6))
        return streamer_pb2.TunnelStatus(mode=streamer_pb2.TUNNEL_MODE_QUICK, state=state,
                                         public_url=self.public_url if self.tunnel_up else "", since=since)

    def change_tunnel_url(self) -> None:
        """Like a quick tunnel restarting: the old URLs die, a new base is announced."""
        self.prefix = secrets.token_hex(4)
        self._emit(streamer_pb2.StreamerEvent(tunnel=self.tunnel_status()))

    def tunnel_down(self) -> None:
        """Like cloudflared dying for good: its URLs answer 502 and the tunnel is DOWN."""
        self.unreachable = True
        self.tunnel_up = False
        self._emit(streamer_pb2.StreamerEvent(tunnel=self.tunnel_status()))

    # -- gRPC -----------------------------------------------------------------------------------

    async def Publish(self, request, context):
        self.publish_calls += 1
        if self.hold_publish is not None:
            await self.hold_publish.wait()
        path = self.root / request.path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.path}: no such file")
        if (st.st_size, st.st_mtime_ns) != (request.size, request.mtime_ns):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{request.path}: changed since")
        publication = self.publish_now(request.path, request.job_id)
        if self.die_after_publish:
            self.die_after_publish = False
            self.tunnel_down()
        return publication

    def publish_now(self, relpath: str, job_id: str) -> streamer_pb2.Publication:
        path = self.root / relpath
        st = os.stat(path)
        ticket = Ticket(secrets.token_hex(6), secrets.token_urlsafe(16), path, relpath, st.st_size,
                        st.st_mtime_ns, job_id, self.public_url)
        self.tickets[ticket.id] = ticket
        self.by_token[ticket.token] = ticket
        return self._publication(ticket)

    def _publication(self, ticket: Ticket) -> streamer_pb2.Publication:
        publication = streamer_pb2.Publication(
            ticket_id=ticket.id, url=f"{ticket.base}/t/{ticket.token}" if self.tunnel_up else "",
            path=ticket.relpath, size=ticket.size, mtime_ns=ticket.mtime_ns, job_id=ticket.job_id,
            revoked=ticket.revoked, bytes_covered=sum(hi - lo for lo, hi in ticket.covered))
        publication.expires_at.GetCurrentTime()
        publication.expires_at.seconds += 3600
        return publication

    async def Revoke(self, request, context):
        ticket = self.tickets.get(request.ticket_id)
        if ticket is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such ticket")
        ticket.revoked = True
        return streamer_pb2.RevokeResponse(revoked=True)

    async def GetPublication(self, request, context):
        ticket = self.tickets.get(request.ticket_id)
        if ticket is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such ticket")
        return self._publication(ticket)

    async def GetTunnelStatus(self, request, context):
        return self.tunnel_status()

    async def WatchEvents(self, request, context):
        async for event in self._events.stream(streamer_pb2.StreamerEvent(tunnel=self.tunnel_status())):
            yield event

    async def Push(self, request, context):
        self.push_calls += 1
        path = self.root / request.path
        done = 0
        async with httpx.AsyncClient(timeout=30) as client:
            with open(path, "rb") as source:
                for part in request.parts:
                    chunk = source.read(part.size)
                    response = await client.put(part.url, content=chunk, headers={
                        "x-amz-acl": "private", "content-type": request.content_type or "application/octet-stream"})
                    if response.status_code >= 300:
                        yield self._push_progress(request, streamer_pb2.TRANSFER_PHASE_FAILED, done,
                                                  f"part PUT answered {response.status_code}")
                        return
                    done += len(chunk)
                    yield self._push_progress(request, streamer_pb2.TRANSFER_PHASE_ACTIVE, done)
        yield self._push_progress(request, streamer_pb2.TRANSFER_PHASE_COMPLETE, done)

    def _push_progress(self, request, phase, done, error=""):
        """One part in flight at a time; a marker copy (connections 99) on WatchEvents if asked."""
        progress = streamer_pb2.TransferProgress(job_id=request.job_id, path=request.path,
                                                 kind=streamer_pb2.TRANSFER_KIND_PUSH, phase=phase, size=request.size,
                                                 bytes_done=done, rate_bps=1e6, active_connections=1, error=error)
        if self.push_on_watch_events:
            echo = streamer_pb2.TransferProgress()
            echo.CopyFrom(progress)
            echo.active_connections = 99
            self._emit(streamer_pb2.StreamerEvent(transfer=echo))
        return progress


def _range_start(header: str) -> int:
    if header.startswith("bytes=") and "," not in header:
        start = header[6:].split("-", 1)[0]
        if start.isdigit():
            return int(start)
    return 0


class _Counting:
    """Wraps an ASGI response, reporting the body bytes sent so far as they go out."""

    def __init__(self, response, report, bytes_per_s, cut, count_connection) -> None:
        self.response = response
        self.report = report
        self.count_connection = count_connection  # +1 while the body is being sent, -1 after
        self.bytes_per_s = bytes_per_s  # read at every chunk, so a test can speed it up midway
        self.cut = cut  # true → the connection drops, as under a tunnel that died

    async def __call__(self, scope, receive, send):
        sent = 0

        async def counting_send(message):
            nonlocal sent
            if self.cut():
                raise ConnectionResetError("the tunnel died")
            await send(message)
            if message["type"] == "http.response.body" and message.get("body"):
                sent += len(message["body"])
                self.report(sent)
                if rate := self.bytes_per_s():
                    await asyncio.sleep(len(message["body"]) / rate)

        self.count_connection(1)
        try:
            await self.response(scope, receive, counting_send)
        finally:
            self.count_connection(-1)


@contextlib.asynccontextmanager
async def grpc_server(*registrations) -> AsyncIterator[str]:
    """A grpc.aio server on a free loopback port with the given (add_fn, servicer) pairs."""
    server = grpc.aio.server()
    for add, servicer in registrations:
        add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


@contextlib.asynccontextmanager
async def fake_services(root: Path, emulator_url: str) -> AsyncIterator[tuple[FakeAuth, FakeStreamer, str, str]]:
    """FakeAuth and FakeStreamer serving on loopback: (auth, streamer, auth address, streamer address)."""
    auth = FakeAuth(emulator_url)
    streamer = FakeStreamer(root)
    await streamer.start_http()
    try:
        async with grpc_server((auth_pb2_grpc.add_AuthServiceServicer_to_server, auth)) as auth_address, \
                grpc_server((streamer_pb2_grpc.add_StreamerServiceServicer_to_server, streamer)) as streamer_address:
            yield auth, streamer, auth_address, streamer_address
    finally:
        await streamer.stop_http()
