"""The front of a service's gRPC address: mutual TLS where grpcio cannot do it.

grpcio's server credentials either require a client certificate or never ask for one; the
mesh needs both health without credentials and certificates verified when presented. So the
front owns the service's address. It peeks at each connection's first byte: a TLS
ClientHello gets a handshake against the mesh CA (a client certificate is optional, but one
presented must verify and name one of IDENTITIES); anything else (the HTTP/2 preface of a
plaintext client) passes as ANONYMOUS, which the guard lets call health only. Each
connection is then piped to the gRPC server's internal plaintext port on loopback, and the
registry tells the guard who is behind that internal connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from postflow.core import net
from postflow.core.files import write_private
from postflow.core.mesh.certs import Credentials
from postflow.core.mesh.identity import ANONYMOUS, IDENTITIES, Principal, certificate
from postflow.core.mesh.peer_limit import FailureLimit

log = logging.getLogger(__name__)

TLS_HANDSHAKE = 0x16  # the first byte of a TLS record carrying a ClientHello
HANDSHAKE_TIMEOUT_S = 10.0
FAILURE_WINDOW_S = 60.0
FAILURES_PER_WINDOW = 20  # failed handshakes from one host before it is cut off for the window
WARNING_INTERVAL_S = 10.0  # at most one warning a host in this long
MAX_HOSTS = 10_000  # hosts whose last warning is remembered before the old ones are forgotten
CHUNK = 256 * 1024
CLOSE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Peer:
    principal: Principal
    tls: bool  # the caller reached the front over TLS (with or without a certificate)
    address: str  # the caller's own address, host:port


class PeerRegistry:
    """Who is behind each connection the front made to the internal port, by the gRPC peer
    string of its local end (`ipv4:127.0.0.1:PORT`)."""

    def __init__(self) -> None:
        self._peers: dict[str, Peer] = {}

    def register(self, grpc_peer: str, peer: Peer) -> None:
        self._peers[grpc_peer] = peer

    def unregister(self, grpc_peer: str) -> None:
        self._peers.pop(grpc_peer, None)

    def find(self, grpc_peer: str) -> Peer | None:
        return self._peers.get(grpc_peer)


def server_context(credentials: Credentials) -> ssl.SSLContext:
    """The front's TLS context (blocking: the key passes through a private temporary file,
    the only way `ssl` loads one)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="postflow-mesh-") as private:
        cert, key = Path(private) / "cert.pem", Path(private) / "key.pem"
        write_private(cert, credentials.cert.decode())
        write_private(key, credentials.key.decode())
        context.load_cert_chain(cert, key)
    context.load_verify_locations(cadata=credentials.ca.decode())
    context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["h2"])
    return context


class Front:
    """Listens on the service's address and pipes every connection to `internal_port`."""

    def __init__(self, context: ssl.SSLContext, registry: PeerRegistry, internal_port: int,
                 limiter: FailureLimit | None = None, handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S) -> None:
        self._context = context  # server_context(the service's credentials)
        self._registry = registry
        self._internal_port = internal_port
        self.limiter = limiter or FailureLimit(FAILURES_PER_WINDOW, FAILURE_WINDOW_S)
        self._warned: dict[str, float] = {}  # host → when its last refusal was logged
        self._handshake_timeout_s = handshake_timeout_s
        self.failed_handshakes = 0
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, address: str) -> int:
        """Listens on `address` (host:port, port 0 for any); the port."""
        host, _, port = address.rpartition(":")
        self._listener = net.listen(host.strip("[]"), int(port))
        self._listener.setblocking(False)
        self._accepting = asyncio.create_task(self._accept(self._listener), name="mesh-front")
        return int(self._listener.getsockname()[1])

    def stop_listening(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        if self._listener is not None:
            self._listener.close()

    async def close(self) -> None:
        """Stops listening and closes the connections still open."""
        self.stop_listening()
        connections = list(self._connections)
        for connection in connections:
            connection.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        if self._accepting is not None:
            await asyncio.gather(self._accepting, return_exceptions=True)

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            connection, address = await loop.sock_accept(listener)
            connection.setblocking(False)
            task = asyncio.create_task(self._serve(connection, address[0], address[1]))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _serve(self, connection: socket.socket, host: str, port: int) -> None:
        caller = f"{host}:{port}"
        try:
            first = b"" if self.limiter.exceeded(host) else await asyncio.wait_for(
                _peek(connection), self._handshake_timeout_s)
        except (OSError, TimeoutError):
            first = b""
        if not first:  # cut off, gone, or silent
            connection.close()
            return
        # From here the event loop's transport owns (and closes) the socket.
        try:
            if first[0] == TLS_HANDSHAKE:
                accepted = await self._handshake(connection, host, caller)
                if accepted is None:
                    return
                outside, principal = accepted
            else:
                outside, principal = await _plaintext(connection), ANONYMOUS
            await self._pipe(outside, Peer(principal, first[0] == TLS_HANDSHAKE, caller))
        except OSError:
            pass  # the caller or the internal port went away: nothing more to pipe

    async def _handshake(self, connection: socket.socket, host: str,
                         caller: str) -> tuple[Streams, Principal] | None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=CHUNK)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, connection, ssl=self._context, ssl_handshake_timeout=self._handshake_timeout_s)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            self._refused(host, caller, _reason(exc))
            return None
        streams = Streams(reader, asyncio.StreamWriter(transport, protocol, reader, loop))
        presented = transport.get_extra_info("peercert")
        if not presented:
            return streams, ANONYMOUS
        name = _common_name(presented)
        if name not in IDENTITIES:
            self._refused(host, caller, f"certificate names no mesh identity ({name!r})")
            await _close(streams, abort=True)
            return None
        return streams, certificate(name)

    def _refused(self, host: str, caller: str, reason: str) -> None:
        self.failed_handshakes += 1
        recent = self.limiter.failed(host)
        now = time.monotonic()
        if now - self._warned.get(host, -WARNING_INTERVAL_S) >= WARNING_INTERVAL_S:
            if len(self._warned) >= MAX_HOSTS:
                self._warned = {h: at for h, at in self._warned.items() if now - at < WARNING_INTERVAL_S}
            self._warned[host] = now
            cut_off = ", cut off for now" if recent >= self.limiter.per_window else ""
            log.warning("mesh: refused %s at the handshake: %s (%d failed from %s in %.0f s%s)",
                        caller, reason, recent, host, self.limiter.window_s, cut_off)

    async def _pipe(self, outside: Streams, peer: Peer) -> None:
        try:
            inside = Streams(*await asyncio.open_connection("127.0.0.1", self._internal_port, limit=CHUNK))
        except BaseException:
            await _close(outside)
            raise
        local_host, local_port = inside.writer.get_extra_info("sockname")[:2]
        grpc_peer = f"ipv4:{local_host}:{local_port}"
        self._registry.register(grpc_peer, peer)
        try:
            copies = [asyncio.create_task(_copy(outside.reader, inside.writer)),
                      asyncio.create_task(_copy(inside.reader, outside.writer))]
            try:
                await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for copy in copies:
                    copy.cancel()
                await asyncio.gather(*copies, return_exceptions=True)
        finally:
            self._registry.unregister(grpc_peer)
            await _close(inside, outside)


@dataclass(frozen=True)
class Streams:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


async def _close(*connections: Streams, abort: bool = False) -> None:
    """Closes the connections, flushing what they still have to send unless `abort` (or it
    takes longer than CLOSE_TIMEOUT_S)."""
    for streams in connections:
        if abort:
            streams.writer.transport.abort()
        else:
            streams.writer.close()
    closed = asyncio.gather(*(streams.writer.wait_closed() for streams in connections), return_exceptions=True)
    try:
        await asyncio.wait_for(asyncio.shield(closed), CLOSE_TIMEOUT_S)
    except TimeoutError:
        for streams in connections:
            streams.writer.transport.abort()
        await closed


async def _peek(connection: socket.socket) -> bytes:
    """The connection's first byte, left in the socket for whoever reads it next."""
    loop = asyncio.get_running_loop()
    while True:
        readable: asyncio.Future[None] = loop.create_future()

        def ready(readable: asyncio.Future[None] = readable) -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(connection.fileno(), ready)
        try:
            await readable
        finally:
            loop.remove_reader(connection.fileno())
        try:
            return connection.recv(1, socket.MSG_PEEK)
        except BlockingIOError:  # a readiness that was not: wait again
            continue


async def _plaintext(connection: socket.socket) -> Streams:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK)
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_accepted_socket(lambda: protocol, connection)
    return Streams(reader, asyncio.StreamWriter(transport, protocol, reader, loop))


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()


def _common_name(peercert: dict) -> str:
    for attributes in peercert.get("subject", ()):
        for key, value in attributes:
            if key == "commonName":
                return str(value)
    return ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate refused: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc.__class__.__name__}"
    if isinstance(exc, TimeoutError):
        return "no TLS handshake in time"
    return f"connection lost during the handshake ({exc.__class__.__name__})"
