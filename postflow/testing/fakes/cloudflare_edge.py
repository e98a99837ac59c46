"""A stand-in for Cloudflare's edge in front of a quick tunnel, on loopback: TLS for
`*.trycloudflare.com` (a test CA made here, trusted by the emulator through the shim), and
bytes passed to the streamer's Range server only for the hostname the running cloudflared
stand-in announces on its metrics port. Any other hostname, or any while cloudflared is down,
gets Cloudflare's 530 (error 1033); when the hostname changes, connections under the old one
are cut, as they are when a real cloudflared dies."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from collections import Counter
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOMAIN = "trycloudflare.com"
DEAD_TUNNEL = b"HTTP/1.1 530 \r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nerror 1033"
PIPE_CHUNK = 1 << 20


def _certificate(subject: str, key, issuer: x509.Name, issuer_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(f"*.{DOMAIN}")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, edge certificate, edge key) as PEM files."""
    ca_key, edge_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PostFlow campaign CA")])
    ca = _certificate("PostFlow campaign CA", ca_key, ca_name, ca_key, ca=True)
    edge = _certificate(f"*.{DOMAIN}", edge_key, ca_name, ca_key, ca=False)
    paths = folder / "ca.pem", folder / "edge.pem", folder / "edge.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(edge.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(edge_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    return paths


class Edge:
    def __init__(self, folder: Path, metrics: str, upstream_port: int) -> None:
        self.ca, cert, key = make_certificates(folder)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.context.sni_callback = self._on_sni
        self.metrics = metrics
        self.upstream_port = upstream_port
        self.current = ""  # the hostname the running cloudflared announces ("" while it is down)
        self.bytes_by_host: Counter[str] = Counter()
        self.port = 0
        self._names: dict[int, str] = {}
        self._open: dict[asyncio.StreamWriter, str] = {}
        self._server: asyncio.Server | None = None
        self._poller: asyncio.Task | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        self._poller = asyncio.create_task(self._follow_cloudflared())

    async def stop(self) -> None:
        assert self._server is not None and self._poller is not None, "the edge was never started"
        self._poller.cancel()
        for writer in list(self._open):
            writer.transport.abort()
        self._server.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._poller

    def _on_sni(self, ssl_object, name: str | None, context) -> None:
        self._names[id(ssl_object)] = name or ""

    async def _follow_cloudflared(self) -> None:
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                try:
                    self.current = (await client.get(f"http://{self.metrics}/quicktunnel")).json()["hostname"]
                except (httpx.HTTPError, ValueError, KeyError):
                    self.current = ""
                for writer, host in list(self._open.items()):
                    if host != self.current:
                        writer.transport.abort()
                await asyncio.sleep(0.1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = self._names.pop(id(writer.get_extra_info("ssl_object")), "")
        try:
            if not host or host != self.current:
                writer.write(DEAD_TUNNEL)
                await writer.drain()
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self._open[writer] = self._open[up_writer] = host
            try:
                await asyncio.gather(self._pipe(reader, up_writer, None), self._pipe(up_reader, writer, host))
            finally:
                self._open.pop(writer, None)
                self._open.pop(up_writer, None)
                up_writer.transport.abort()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str | None) -> None:
        try:
            while data := await reader.read(PIPE_CHUNK):
                writer.write(data)
                await writer.drain()
                if host:
                    self.bytes_by_host[host] += len(data)
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()
