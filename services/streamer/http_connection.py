"""One HTTP/1.1 connection on a raw non-blocking socket, served by one coroutine: read a
request head within size limits and deadlines, hand it to the handler, repeat
(keep-alive, pipelining). Responses are written straight to the socket: `send` for bytes
and `sendfile` (os.sendfile, zero-copy) for file ranges whose pages are resident, waiting
for writability only when the kernel's send buffer is full, as nginx does. Slow, idle and
stalled clients are cut off. A handler that takes a POST reads its body (`read_body`)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from http import HTTPStatus

from postflow.core.net import listen
from services.streamer.http_request import BadRequest, HeadLimits, Request, check_incomplete, parse_head
from services.streamer.pacer import Pacer
from services.streamer.ranges import http_date

log = logging.getLogger(__name__)

READ_SIZE = 65536
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}
_LINGER_RESET = struct.pack("ii", 1, 0)  # close() then sends RST: the peer sees an aborted response
_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("latin-1")
                 for status in HTTPStatus}


class SendfileRefused(Exception):
    """The file system does not splice (some network file systems); `sent` bytes went out first."""

    def __init__(self, sent: int) -> None:
        super().__init__(f"sendfile refused after {sent} bytes")
        self.sent = sent


@lru_cache(maxsize=4)
def date_field(epoch_s: int) -> bytes:
    return f"Date: {http_date(epoch_s)}\r\n".encode("latin-1")


@dataclass(frozen=True)
class HttpLimits:
    head: HeadLimits = field(default_factory=HeadLimits)
    idle_timeout_s: float = 30.0  # keep-alive wait for the first byte of a request
    head_timeout_s: float = 10.0  # from the first byte to the end of the head (slowloris)
    send_stall_timeout_s: float = 60.0  # a client that reads nothing for this long is cut off


Handler = Callable[["HttpConnection", Request], Awaitable[bool]]


class HttpConnection:
    """Per request cost matters (a 1 MiB range is a few hundred µs of kernel work), so the
    socket stays registered for reading for the connection's life, received bytes are
    buffered by a callback, and deadlines are a field the server's sweeper checks, not a
    timer per wait."""

    def __init__(self, sock: socket.socket, handler: Handler, limits: HttpLimits, pacer: Pacer | None = None) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.handler = handler
        self.limits = limits
        self.pacer = pacer or Pacer()  # bodies take from it; heads and short answers do not
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self._eof = False
        self._reading = False
        self._waiter: asyncio.Future | None = None
        self.deadline: float | None = None  # when the current wait fails with TimeoutError
        self.last_response = False  # the client asked to close after this one (RFC 9112 §9.6)
        self._corked = False
        self._closed = False

    async def serve(self) -> None:
        """The life of the connection; returns when it is closed."""
        self._resume_reading()
        try:
            while (head := await self._read_head()) is not None:
                try:
                    request = parse_head(head, self.limits.head)
                except BadRequest as exc:
                    await self._reject(exc)
                    return
                self.last_response = not request.keep_alive
                if not await self.handler(self, request) or self.last_response:
                    return
        except (ConnectionError, TimeoutError) as exc:
            log.debug("connection ended: %s", type(exc).__name__)
        except Exception:
            log.exception("request handling failed")
            self.abort()
        finally:
            self.close()

    # --- reading ---
    async def _read_head(self) -> bytes | None:
        """The next request head; None when the client closed or idled out."""
        self._skip_blank_lines()
        if not self.buffer:
            try:
                if not await self._more(self.loop.time() + self.limits.idle_timeout_s):
                    return None
            except TimeoutError:
                return None
        deadline = self.loop.time() + self.limits.head_timeout_s
        try:
            while True:
                self._skip_blank_lines()
                end = self.buffer.find(b"\r\n\r\n")
                if end >= 0:
                    head = bytes(self.buffer[:end])
                    del self.buffer[: end + 4]
                    return head
                check_incomplete(self.buffer, self.limits.head)
                if not await self._more(deadline):
                    return None
        except BadRequest as exc:
            await self._reject(exc)
        except TimeoutError:
            log.debug("request head not received in time")
            await self.send_simple(408, close=True)
        return None

    async def _more(self, deadline: float) -> bool:
        """Waits for more bytes; False at end of stream; TimeoutError past the deadline."""
        if self._eof:
            return False
        size = len(self.buffer)
        self._resume_reading()
        await self._wait(deadline)
        return len(self.buffer) > size

    async def read_body(self, length: int, timeout_s: float) -> bytes:
        """The request's body of `length` bytes, received within `timeout_s`; TimeoutError
        past it, ConnectionError when the client closes first."""
        deadline = self.loop.time() + timeout_s
        while len(self.buffer) < length:
            if not await self._more(deadline):
                raise ConnectionError("the client closed before the end of the body")
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body

    def peer(self) -> str:
        """The client's address, for log lines ("" once it is gone)."""
        try:
            host, port, *_ = self.sock.getpeername()
        except OSError:
            return ""
        return f"{host}:{port}"

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self.buffer += data
        else:
            self._eof = True
        if self._eof or len(self.buffer) > self.limits.head.max_head:
            self._pause_reading()  # a pipelining client waits until its requests are taken
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _resume_reading(self) -> None:
        if not self._reading and not self._eof and not self._closed:
            self.loop.add_reader(self.fd, self._on_readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading:
            self.loop.remove_reader(self.fd)
            self._reading = False

    async def _wait(self, deadline: float) -> None:
        self._waiter = self.loop.create_future()
        self.deadline = deadline
        try:
            await self._waiter
        finally:
            self._waiter = self.deadline = None

    def expire(self, now: float) -> None:
        """Called by the sweeper: fails a wait that is past its deadline."""
        if self.deadline is not None and now >= self.deadline and self._waiter and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())

    def _skip_blank_lines(self) -> None:
        while self.buffer.startswith(b"\r\n"):  # RFC 9112 §2.2
            del self.buffer[:2]

    # --- writing ---
    async def send_head(self, status: int, headers: list[tuple[str, str]], close: bool = False,
                        body: bytes = b"", *, fields: bytes = b"", more: bool = False) -> None:
        """The status line and header fields (`fields` already encoded, then `headers`), and a
        short body in the same write. `more`: a body follows, so the kernel holds the head
        back to leave in the body's first segment (MSG_MORE)."""
        if close or self.last_response:
            headers = [*headers, ("Connection", "close")]
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers]).encode("latin-1")
        await self.send(b"".join((_STATUS_LINES[status], date_field(int(time.time())), fields, lines, b"\r\n", body)),
                        more)

    async def send_simple(self, status: int, text: str = "", *, head_only: bool = False, close: bool = False,
                          headers: list[tuple[str, str]] | None = None) -> None:
        body = (text or HTTPStatus(status).phrase).encode("utf-8") + b"\n"
        await self.send_head(status, [("Content-Type", "text/plain; charset=utf-8"),
                                      ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
                                      *(headers or [])], close, b"" if head_only else body)

    async def send(self, data: bytes | memoryview, more: bool = False, *, paced: bool = False) -> None:
        """`paced`: body bytes, sent as the bandwidth limit grants them."""
        view = memoryview(data)
        flags = socket.MSG_MORE if more else 0
        while view:
            allowed = await self.pacer.grant(len(view)) if paced else len(view)
            piece, view = view[:allowed], view[allowed:]
            while piece:
                try:
                    piece = piece[self.sock.send(piece, flags):]
                except BlockingIOError:
                    await self._writable()

    async def sendfile(self, file_fd: int, offset: int, count: int) -> int:
        """Sends `count` bytes of the file from `offset` as the bandwidth limit grants them;
        fewer only if the file ends first. Call it only where reading the file cannot wait
        (resident pages): it runs on the loop."""
        sent = granted = 0
        try:
            while sent < count:
                if granted == sent:
                    granted += await self.pacer.grant(count - sent)
                try:
                    done = os.sendfile(self.fd, file_fd, offset + sent, granted - sent)
                except BlockingIOError:
                    done = None
                except OSError as exc:
                    if exc.errno not in _NO_SENDFILE:
                        raise
                    raise SendfileRefused(sent) from exc
                if done == 0:
                    break  # the file ended
                sent += done or 0
                if done is None or sent < granted:  # cut short by a full send buffer: wait for room
                    self._cork()
                    await self._writable()
        finally:
            self.pacer.give_back(granted - sent)
        return sent

    def _cork(self) -> None:
        """Once a body fills the socket buffer, the kernel sends only full segments until
        `end_response` (nginx's `tcp_nopush`), so sendfile calls cut short by the full buffer
        leave no small segments behind. A body sent by one call is spared the two syscalls."""
        if not self._corked:
            self._set_cork(True)

    def end_response(self) -> None:
        """Flushes what corking held back."""
        if self._corked:
            self._set_cork(False)

    def _set_cork(self, on: bool) -> None:
        self._corked = on
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))
        except OSError:
            pass

    async def _writable(self) -> None:
        self.loop.add_writer(self.fd, self._on_writable)
        try:
            await self._wait(self.loop.time() + self.limits.send_stall_timeout_s)
        finally:
            self.loop.remove_writer(self.fd)

    def _on_writable(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- ending ---
    async def _reject(self, exc: BadRequest) -> None:
        log.debug("bad request: %s", exc.reason)
        await self.send_simple(exc.status, exc.reason, close=True)

    def abort(self) -> None:
        """Ends the connection with a reset, so a partly sent body is visibly incomplete."""
        if not self._closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._pause_reading()
            self._closed = True
            self.sock.close()


class HttpServer:
    """Accepts connections on a listening socket and serves each with an HttpConnection."""

    def __init__(self, handler: Handler, limits: HttpLimits, pacer: Pacer | None = None) -> None:
        self.handler = handler
        self.limits = limits
        self.pacer = pacer or Pacer()
        self.tick_s = min(1.0, limits.idle_timeout_s / 4, limits.head_timeout_s / 4, limits.send_stall_timeout_s / 4)
        self._sock: socket.socket | None = None
        self._tasks: list[asyncio.Task] = []
        self._connections: dict[HttpConnection, asyncio.Task] = {}

    async def start(self, host: str, port: int) -> int:
        self._sock = listen(host, port, backlog=512)
        self._sock.setblocking(False)
        self._tasks = [asyncio.create_task(self._accept(self._sock)), asyncio.create_task(self._sweep())]
        return self._sock.getsockname()[1]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._connections.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            for connection in self._connections:
                connection.expire(now)

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as exc:  # e.g. out of file descriptors: keep serving the open ones
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = HttpConnection(sock, self.handler, self.limits, self.pacer)
            self._connections[connection] = task = loop.create_task(connection.serve())
            task.add_done_callback(partial(self._forget, connection))

    def _forget(self, connection: HttpConnection, _task: asyncio.Task) -> None:
        self._connections.pop(connection, None)
