"""Fixtures for the streamer: the real service in this event loop on loopback ports, a
gRPC stub to it, and helpers to publish files and speak raw HTTP to the Range server."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest_asyncio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from postflow.core.config import Config, load_config
from postflow.core.service import Runtime
from postflow.testing.media import write_media
from postflow.v1 import streamer_pb2, streamer_pb2_grpc
from services.streamer.http_connection import HttpLimits
from services.streamer.http_request import HeadLimits
from services.streamer.server import StreamerService, build_service

FAKE_CLOUDFLARED = Path(__file__).with_name("fake_cloudflared.py")
TEST_LIMITS = HttpLimits(HeadLimits(), idle_timeout_s=2.0, head_timeout_s=0.6, send_stall_timeout_s=5.0)


def make_config(tmp_path: Path, streamer: dict | None = None, **sections) -> Config:
    raw = {"watch": {"root": str(tmp_path / "watch")}, "state_dir": str(tmp_path / "state"),
           "streamer": {"tunnel": {"mode": "none"}, **(streamer or {})}, **sections}
    (tmp_path / "watch").mkdir(exist_ok=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return load_config(path, env={})


def fake_cloudflared(tmp_path: Path) -> tuple[Path, Path]:
    """An executable `cloudflared` that runs the stand-in, and its control directory."""
    control = tmp_path / "cloudflared-control"
    control.mkdir(exist_ok=True)
    launcher = tmp_path / "cloudflared"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLOUDFLARED}" "$@"\n')
    launcher.chmod(0o755)
    return launcher, control


@dataclass
class Streamer:
    service: StreamerService
    stub: streamer_pb2_grpc.StreamerServiceStub
    channel: grpc.aio.Channel
    root: Path
    spans: InMemorySpanExporter

    @property
    def http_port(self) -> int:
        return self.service.http_port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def media(self, relative: str, size: int, seed: int = 0) -> str:
        """Writes a file under the watch root; returns its sha256."""
        return write_media(self.root / relative, size, seed)

    async def publish(self, relative: str, ttl_s: int = 0, job_id: str = "job-1", **extra) -> streamer_pb2.Publication:
        st = (self.root / relative).stat()
        return await self.stub.Publish(streamer_pb2.PublishRequest(
            path=relative, size=st.st_size, mtime_ns=st.st_mtime_ns, ttl_s=ttl_s, job_id=job_id, **extra), timeout=10)

    async def revoke(self, ticket_id: str) -> None:
        await self.stub.Revoke(streamer_pb2.RevokeRequest(ticket_id=ticket_id), timeout=10)


async def start_streamer(config: Config, spans: InMemorySpanExporter | None = None,
                         limits: HttpLimits = TEST_LIMITS) -> Streamer:
    spans = spans or InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    service = build_service(Runtime(config, provider), grpc_address="127.0.0.1:0", http_address="127.0.0.1:0",
                            http_limits=limits)
    await service.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    return Streamer(service, streamer_pb2_grpc.StreamerServiceStub(channel), channel, config.watch_root, spans)


async def stop_streamer(streamer: Streamer) -> None:
    await streamer.channel.close()
    await streamer.service.stop()


@pytest_asyncio.fixture
async def streamer(tmp_path: Path) -> AsyncIterator[Streamer]:
    running = await start_streamer(make_config(tmp_path))
    try:
        yield running
    finally:
        await stop_streamer(running)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after this response


async def raw_exchange(port: int, data: bytes, read_timeout: float = 5.0) -> bytes:
    """Sends `data` and returns everything the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        async with asyncio.timeout(read_timeout):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)
    except ConnectionResetError:
        return b"".join(chunks)
    finally:
        writer.close()


def parse_responses(data: bytes, head_only: bool = False) -> list[RawResponse]:
    """Splits a byte stream into HTTP/1.1 responses (Content-Length framing)."""
    responses = []
    while data:
        head, sep, data = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete head: {head[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only else int(headers.get("content-length", "0"))
        body, data = data[:length], data[length:]
        responses.append(RawResponse(status, headers, body, headers.get("connection") == "close"))
    return responses


def request_bytes(path: str, *extra: str, method: str = "GET", version: str = "HTTP/1.1", close: bool = True) -> bytes:
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1", *extra]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]
