"""What the streamer reports about pulls: unique coverage, events, log lines, traces, and
what happens when the file changes or the client hangs up mid-body."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from postflow.core.telemetry import current_trace_context
from postflow.testing.polling import wait_for
from postflow.testing.raw_http import path_of, request_bytes
from postflow.v1 import streamer_pb2

MIB = 1024 * 1024
PULL = streamer_pb2.TRANSFER_KIND_PULL
ACTIVE, COMPLETE = streamer_pb2.TRANSFER_PHASE_ACTIVE, streamer_pb2.TRANSFER_PHASE_COMPLETE
SOURCE_CHANGED = streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED


async def start_get(port: int, url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes, int]:
    """A GET of the whole file whose reader is slow: returns after the head and 1 MiB of body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=MIB)
    writer.write(request_bytes(path_of(url)))
    head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head, len(await reader.readexactly(MIB))


async def read_to_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Reads until the server ends the connection (a reset included); returns the bytes read."""
    received = 0
    try:
        while chunk := await reader.read(MIB):
            received += len(chunk)
    except ConnectionResetError:
        pass
    writer.close()
    return received


def transfers(events, ticket_id: str) -> list[streamer_pb2.TransferProgress]:
    return [e.transfer for e in events if e.HasField("transfer") and e.transfer.ticket_id == ticket_id]


@pytest.mark.asyncio
async def test_parallel_and_repeated_ranges_count_once(streamer, events, caplog):
    caplog.set_level(logging.INFO, logger="services.streamer")
    size = 8 * MIB + 123
    streamer.media("SQ01/shot.mov", size)
    publication = await streamer.publish("SQ01/shot.mov", job_id="job-7")
    quarter = size // 4
    bounds = [(i * quarter, size - 1 if i == 3 else (i + 1) * quarter - 1) for i in range(4)]
    async with httpx.AsyncClient(timeout=10) as client:
        async def fetch(first: int, last: int) -> bytes:
            response = await client.get(publication.url, headers={"Range": f"bytes={first}-{last}"})
            assert response.status_code == 206
            return response.content

        await asyncio.gather(fetch(*bounds[0]), fetch(*bounds[0]), fetch(0, 100), fetch(*bounds[1]))
        half = await streamer.stub.GetPublication(streamer_pb2.GetPublicationRequest(ticket_id=publication.ticket_id))
        assert half.bytes_covered == bounds[1][1] + 1  # repeats and overlaps counted once
        await asyncio.gather(*(fetch(*b) for b in bounds[2:]), fetch(*bounds[3]))
    done = await streamer.stub.GetPublication(streamer_pb2.GetPublicationRequest(ticket_id=publication.ticket_id))
    assert done.bytes_covered == size
    seen = await wait_for(lambda: (t := transfers(events, publication.ticket_id)) and t[-1].phase == COMPLETE and t,
                          message="COMPLETE event")
    assert [t.phase for t in seen].count(COMPLETE) == 1
    assert all(t.kind == PULL and t.job_id == "job-7" and t.size == size for t in seen)
    assert [t.bytes_done for t in seen] == sorted(t.bytes_done for t in seen)
    assert seen[-1].bytes_done == size
    assert any(t.active_connections > 0 for t in seen)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("services.streamer")]
    for mark in (25, 50, 75):
        assert sum(f"{mark}% served" in m for m in messages) == 1
    assert sum("complete" in m for m in messages) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.asyncio
async def test_progress_events_are_coalesced_and_logs_are_not_per_request(streamer, events, caplog):
    caplog.set_level(logging.INFO, logger="services.streamer")
    streamer.media("a.mov", MIB)
    publication = await streamer.publish("a.mov")
    async with httpx.AsyncClient() as client:
        for first in range(0, 200 * 1000, 1000):
            response = await client.get(publication.url, headers={"Range": f"bytes={first}-{first + 999}"})
            assert response.status_code == 206
    await asyncio.sleep(0.3)  # one more coalescing period may flush
    assert len(transfers(events, publication.ticket_id)) < 40  # 200 requests, a few events per second
    info = [r for r in caplog.records if r.name.startswith("services.streamer") and r.levelno == logging.INFO]
    assert not info  # nothing per request, and 19 % covered is no milestone yet


@pytest.mark.asyncio
async def test_a_file_modified_during_a_get_is_never_sent_torn(streamer, events, caplog):
    size = 64 * MIB
    streamer.media("growing.mov", size)
    publication = await streamer.publish("growing.mov")
    reader, writer, head, received = await start_get(streamer.http_port, publication.url)
    assert b" 200 " in head and f"Content-Length: {size}".encode() in head
    with open(streamer.root / "growing.mov", "r+b") as rewrite:  # same size, new bytes, new mtime
        rewrite.seek(size - 10)
        rewrite.write(b"0123456789")
    received += await read_to_end(reader, writer)
    assert received < size  # cut short: the client knows the body is incomplete
    changed = await wait_for(lambda: [t for t in transfers(events, publication.ticket_id)
                                      if t.phase == SOURCE_CHANGED], message="SOURCE_CHANGED event")
    assert changed[0].kind == PULL and changed[0].error
    async with httpx.AsyncClient() as client:
        assert (await client.get(publication.url)).status_code == 410


@pytest.mark.asyncio
async def test_a_client_hanging_up_is_info_never_error(streamer, caplog):
    caplog.set_level(logging.INFO)
    streamer.media("big.mov", 64 * MIB)
    publication = await streamer.publish("big.mov")
    reader, writer = await asyncio.open_connection("127.0.0.1", streamer.http_port)
    writer.write(request_bytes(path_of(publication.url)))
    await reader.readexactly(256 * 1024)
    writer.transport.abort()
    await wait_for(lambda: any("client went away" in r.getMessage() for r in caplog.records),
                   message="hang-up logged")
    hangup = next(r for r in caplog.records if "client went away" in r.getMessage())
    assert hangup.levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await wait_for(lambda: not streamer.service.range_server.active_requests, message="request finished")


@pytest.mark.asyncio
async def test_revoking_cuts_a_transfer_in_flight(streamer):
    streamer.media("big.mov", 64 * MIB)
    publication = await streamer.publish("big.mov")
    reader, writer, _, received = await start_get(streamer.http_port, publication.url)
    await streamer.revoke(publication.ticket_id)
    assert received + await read_to_end(reader, writer) < 64 * MIB


@pytest.mark.asyncio
async def test_each_request_is_one_span_in_the_publishing_trace(streamer):
    streamer.media("a.mov", 20 * MIB)
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("postflow.upload") as upload:
        publication = await streamer.publish("a.mov", job_id="job-9", trace_context=current_trace_context())
    async with httpx.AsyncClient() as client:
        await client.get(publication.url)
        await client.get(publication.url, headers={"Range": "bytes=0-99"})
    spans = [s for s in streamer.spans.get_finished_spans() if s.name == "postflow.range"]
    assert len(spans) == 2  # one per request: no span per chunk
    trace_id = upload.get_span_context().trace_id
    for span in spans:
        assert span.context.trace_id == trace_id
        assert span.parent.span_id == upload.get_span_context().span_id
        assert span.kind == trace.SpanKind.SERVER
        assert span.attributes["postflow.job_id"] == "job-9"
        assert span.attributes["postflow.ticket_id"] == publication.ticket_id
    full, ranged = sorted(spans, key=lambda s: s.start_time)
    assert (full.attributes["postflow.bytes_sent"], full.attributes["http.response.status_code"]) == (20 * MIB, 200)
    assert (ranged.attributes["http.range"], ranged.attributes["postflow.bytes_sent"]) == ("bytes=0-99", 100)


@pytest.mark.asyncio
async def test_files_that_cannot_be_spliced_are_copied_instead(streamer, monkeypatch):
    """Some network file systems refuse sendfile (EINVAL): the bytes go out by read and send."""
    def no_sendfile(*args):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr("services.streamer.http_connection.os.sendfile", no_sendfile)
    sha = streamer.media("mounted.mov", 3 * MIB + 7)
    publication = await streamer.publish("mounted.mov")
    async with httpx.AsyncClient() as client:
        whole = await client.get(publication.url)
        part = await client.get(publication.url, headers={"Range": "bytes=100-199"})
    assert hashlib.sha256(whole.content).hexdigest() == sha
    assert part.content == whole.content[100:200]
