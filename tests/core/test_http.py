"""The traced httpx client: each request is a client span whose context reaches the server."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from postflow.core.http import traced_client
from postflow.core.net import listen


@pytest.mark.asyncio
async def test_a_request_is_a_client_span_and_carries_its_trace_context():
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        await reader.readexactly(5)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    sock = listen("127.0.0.1", 0)
    async with await asyncio.start_server(answer, sock=sock):
        async with traced_client(provider, timeout=5) as client:
            response = await client.put(f"http://127.0.0.1:{sock.getsockname()[1]}/part", content=b"bytes")
    assert response.text == "ok"
    (span,) = spans.get_finished_spans()
    assert span.kind == SpanKind.CLIENT and span.name.startswith("PUT")
    traceparent = next(line for line in heads[0].decode().split("\r\n") if line.lower().startswith("traceparent:"))
    assert format(span.context.trace_id, "032x") in traceparent

