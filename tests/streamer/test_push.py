"""Push uploads into the emulator's pre-signed part URLs: parts read straight from the file,
PUT in parallel with retries, progress streamed, the result checked by sha256."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import grpc
import httpx
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from postflow.core.net import listen
from postflow.core.rpc import MAX_REQUEST_BYTES, open_channel
from postflow.emulator.options import MIB, EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.push_requests import BATCH_BYTES, push_requests
from postflow.testing.emulator import FrameioFiles
from postflow.testing.media import write_media
from postflow.testing.mesh import MESH_OFF
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, process_rss_peak_mb
from postflow.testing.streamer import Streamer, collect, push_call, push_header, upload_parts
from postflow.v1 import streamer_pb2, streamer_pb2_grpc

ACTIVE, COMPLETE = streamer_pb2.TRANSFER_PHASE_ACTIVE, streamer_pb2.TRANSFER_PHASE_COMPLETE
SOURCE_CHANGED, FAILED = streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, streamer_pb2.TRANSFER_PHASE_FAILED
URLS_EXPIRED = streamer_pb2.TRANSFER_PHASE_URLS_EXPIRED


@pytest.mark.asyncio
async def test_push_stores_every_part_with_the_same_sha256(streamer, frameio):
    sha = streamer.media("SQ01/render.mov", 37 * MIB + 5, seed=4)
    created = await frameio.local_upload("render.mov", 37 * MIB + 5)
    assert len(created["upload_urls"]) == 10
    progress = await collect(push_call(streamer.stub, streamer.root, "SQ01/render.mov", created, concurrency=4))
    assert progress[-1].phase == COMPLETE and progress[-1].bytes_done == 37 * MIB + 5
    assert all(p.kind == streamer_pb2.TRANSFER_KIND_PUSH and p.job_id == "job-push" for p in progress)
    assert len({p.ticket_id for p in progress}) == 1
    report = await frameio.finished(created["id"])
    assert report["sha256"] == sha and report["upload_complete"]


@pytest.mark.asyncio
async def test_failed_parts_are_retried(streamer, frameio):
    sha = streamer.media("a.mov", 9 * MIB, seed=5)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    await frameio.fault({"server_error": {"status": 503, "path": "/_s3/*", "nth": 1, "count": 3}})
    progress = await collect(push_call(streamer.stub, streamer.root, "a.mov", created))
    assert progress[-1].phase == COMPLETE
    assert (await frameio.report(created["id"]))["sha256"] == sha


@pytest.mark.asyncio
async def test_every_part_put_is_a_client_span_in_the_push_s_trace(streamer, frameio):
    streamer.media("a.mov", 9 * MIB, seed=6)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    progress = await collect(push_call(streamer.stub, streamer.root, "a.mov", created))
    assert progress[-1].phase == COMPLETE
    push = await wait_for(lambda: push_server_span(streamer), message="the Push server span")
    puts = [s for s in streamer.spans.get_finished_spans() if s.kind == SpanKind.CLIENT and s.name.startswith("PUT")]
    assert len(puts) == len(created["upload_urls"]) == 3
    assert all(put.context.trace_id == push.context.trace_id for put in puts)


def push_server_span(streamer: Streamer) -> ReadableSpan | None:
    """The Push call's server span, once it ended."""
    return next((s for s in streamer.spans.get_finished_spans()
                 if s.kind == SpanKind.SERVER and s.name.endswith("/Push")), None)


@pytest.mark.asyncio
async def test_a_part_refused_for_good_fails_the_push(streamer, frameio):
    streamer.media("a.mov", 5 * MIB)
    created = await frameio.local_upload("a.mov", 5 * MIB)
    wrong_type = "application/x-wrong"  # a signed header: S3 answers 403
    progress = await collect(push_call(streamer.stub, streamer.root, "a.mov", created, content_type=wrong_type))
    assert progress[-1].phase == FAILED and "403" in progress[-1].error


@pytest.mark.asyncio
async def test_a_file_that_changes_during_the_push_is_reported(streamer, frameio):
    streamer.media("a.mov", 9 * MIB)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    await frameio.fault({"rate_limit_burst": {"count": 1000, "path": "/_s3/*", "retry_after": 1}})
    call = push_call(streamer.stub, streamer.root, "a.mov", created)
    first = await call.read()
    assert first.phase == ACTIVE
    with open(streamer.root / "a.mov", "ab") as grow:
        grow.write(b"x")
    rest = []
    while (progress := await call.read()) is not grpc.aio.EOF:
        rest.append(progress)
    assert rest[-1].phase == SOURCE_CHANGED


@pytest.mark.asyncio
async def test_a_file_already_changed_is_not_pushed(streamer, frameio):
    streamer.media("a.mov", MIB)
    created = await frameio.local_upload("a.mov", MIB)
    header = push_header(streamer.root, "a.mov", created)
    header.mtime_ns += 1
    progress = await collect(streamer.stub.Push(push_requests(header, upload_parts(created))))
    assert [p.phase for p in progress] == [SOURCE_CHANGED]
    assert (await frameio.report(created["id"]))["parts"]["stored"] == 0


def malformed(header: streamer_pb2.PushHeader, parts: list[streamer_pb2.UploadPart],
              damage: str) -> list[streamer_pb2.PushRequest]:
    """A push of `parts` with `damage` done to it."""
    if damage == "short":
        parts[0].size -= 1
    elif damage == "past-the-end":
        parts[1].size += 1
    elif damage == "no-parts":
        del parts[:]
    elif damage == "bad-url":
        parts[0].url = "file:///etc/passwd"
    elif damage == "concurrency":
        header.concurrency = -1
    elif damage == "outside":
        header.path = "../a.mov"
    requests = list(push_requests(header, parts))
    if damage == "fewer-than-announced":
        requests[0].header.part_count += 1
    elif damage == "more-than-announced":
        requests[0].header.part_count -= 1
    elif damage == "no-header":
        del requests[0]
    elif damage == "second-header":
        requests.insert(1, requests[0])
    return requests


@pytest.fixture
def silent_storage():
    """The base URL of storage that accepts connections and never answers: no PUT ends
    before the push's own checks do."""
    with listen("127.0.0.1", 0) as sock:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.asyncio
@pytest.mark.parametrize(("damage", "message"), [
    ("short", "parts: sizes add up to 1048575, the file has 1048576 bytes"),
    ("past-the-end", "parts[1]: ends at byte 1048577, past the end of the file (1048576 bytes)"),
    ("no-parts", "header.part_count: at least one part is required"),
    ("bad-url", "parts[0].url: expected an http(s) URL"),
    ("outside", "../a.mov: outside the pipeline's root"),
    ("concurrency", "header.concurrency: expected 1 to 64, got -1"),
    ("fewer-than-announced", "parts: the header announced 3, the call carried 2"),
    ("more-than-announced", "parts: more than the 1 the header announced"),
    ("no-header", "the first message of a push must be its header"),
    ("second-header", "after the header a push carries only parts"),
])
async def test_a_malformed_push_is_refused(streamer, silent_storage, damage, message):
    streamer.media("a.mov", MIB)
    created = {"media_type": None, "upload_urls": [{"size": MIB // 2, "url": f"{silent_storage}/part/{n}"}
                                                   for n in (1, 2)]}
    requests = malformed(push_header(streamer.root, "a.mov", created), upload_parts(created), damage)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(streamer.stub.Push(iter(requests), timeout=30))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()


@pytest.mark.asyncio
@pytest.mark.slow
async def test_push_of_1_gib_from_a_streamer_process_stays_small(tmp_path):
    """The must-show: 1 GiB pushed by `python -m services.streamer` into the emulator, the
    sha256 equal, the streamer's peak RSS under 150 MB."""
    size = 1024 * MIB
    watch = tmp_path / "watch"
    sha = write_media(watch / "big.mov", size, seed=11)
    grpc_port, http_port = free_port(), free_port()
    config = {"watch": {"root": str(watch)}, "state_dir": str(tmp_path / "state"), "mesh": MESH_OFF,
              "streamer": {"listen": f"127.0.0.1:{http_port}", "tunnel": {"mode": "none"}},
              "services": {"streamer": f"127.0.0.1:{grpc_port}"}, "transfer": {"part_concurrency": 5}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with open(tmp_path / "streamer.log", "wb") as log_file:  # the child keeps its own descriptor
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.streamer", "-c", str(tmp_path / "config.json"), env=child_env(),
            cwd=Path(__file__).resolve().parents[2], stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=log_file)
    try:
        options = EmulatorOptions(rate_limits=False)  # 20 MiB parts: 52 of them
        async with running_emulator(options) as emulator, httpx.AsyncClient(timeout=30) as client, \
                grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            frameio = FrameioFiles(emulator.url, client)
            await frameio.connect()
            created = await frameio.local_upload("big.mov", size)
            stub = streamer_pb2_grpc.StreamerServiceStub(channel)
            progress = await collect(push_call(stub, watch, "big.mov", created, timeout=240))
            assert progress[-1].phase == COMPLETE, progress[-1]
            report = await frameio.finished(created["id"])
            assert report["sha256"] == sha and report["upload_complete"]
            rss = process_rss_peak_mb(process.pid)
            assert rss < 150, f"streamer peak RSS {rss:.0f} MB"
    finally:
        process.terminate()
        await process.wait()
    assert process.returncode == 0, (tmp_path / "streamer.log").read_text()[-2000:]
    assert "ERROR" not in (tmp_path / "streamer.log").read_text()


@pytest.mark.asyncio
async def test_push_progress_goes_to_the_caller_only_not_to_watch_events(streamer, frameio, events):
    seen = events
    streamer.media("a.mov", 9 * MIB)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    progress = await collect(push_call(streamer.stub, streamer.root, "a.mov", created))
    assert progress[-1].phase == COMPLETE
    # A pull afterwards: its events follow any the push would have published.
    streamer.media("b.mov", 1000)
    publication = await streamer.publish("b.mov", job_id="job-pull")
    async with httpx.AsyncClient() as client:
        assert (await client.get(publication.url)).status_code == 200
    await wait_for(lambda: any(e.transfer.phase == COMPLETE for e in seen if e.HasField("transfer")),
                   message="the pull's COMPLETE event")
    assert {e.transfer.kind for e in seen if e.HasField("transfer")} == {streamer_pb2.TRANSFER_KIND_PULL}


@pytest_asyncio.fixture
async def tiny_parts():
    """The emulator cutting files into parts of one byte, each with its own ~1.5 KB URL."""
    async with running_emulator(EmulatorOptions(rate_limits=False, upload_part_size=1)) as emulator, \
            httpx.AsyncClient(timeout=30) as client:
        files = FrameioFiles(emulator.url, client)
        await files.connect()
        yield files


@pytest.mark.asyncio
@pytest.mark.slow
async def test_10_000_part_urls_of_1_5_kb_go_through_the_real_server(streamer, tiny_parts):
    """15 MB of part URLs, almost four times what one gRPC message may carry: they travel in
    batches, and every part is stored with its own byte."""
    sha = streamer.media("many.mov", 10_000, seed=12)
    created = await tiny_parts.local_upload("many.mov", 10_000)
    parts = upload_parts(created)
    assert len(parts) == 10_000 and min(len(p.url) for p in parts) >= 1500
    requests = list(push_requests(push_header(streamer.root, "many.mov", created, concurrency=8), parts))
    assert sum(r.ByteSize() for r in requests) > 3.5 * MAX_REQUEST_BYTES
    assert max(r.ByteSize() for r in requests) <= BATCH_BYTES + 64
    progress = await collect(streamer.stub.Push(iter(requests), timeout=300))
    assert progress[-1].phase == COMPLETE, progress[-1]
    report = await tiny_parts.finished(created["id"])
    assert report["parts"] == {"count": 10_000, "stored": 10_000}
    assert report["sha256"] == sha and report["upload_complete"]


@pytest.mark.asyncio
async def test_puts_start_with_the_first_batch_of_parts(streamer, frameio):
    sha = streamer.media("a.mov", 9 * MIB, seed=13)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    first, *rest = upload_parts(created)
    header = push_header(streamer.root, "a.mov", created, part_count=1 + len(rest))
    more = asyncio.Event()

    async def requests():
        yield streamer_pb2.PushRequest(header=header)
        yield streamer_pb2.PushRequest(parts=streamer_pb2.PushParts(parts=[first]))
        await more.wait()
        yield streamer_pb2.PushRequest(parts=streamer_pb2.PushParts(parts=rest))

    pushing = asyncio.ensure_future(collect(streamer.stub.Push(requests(), timeout=60)))
    try:
        await wait_for(lambda: stored(frameio, created["id"]), message="the first part stored")
    finally:
        more.set()
    assert (await pushing)[-1].phase == COMPLETE
    assert (await frameio.report(created["id"]))["sha256"] == sha


async def stored(frameio: FrameioFiles, file_id: str) -> int:
    return (await frameio.report(file_id))["parts"]["stored"]


@pytest.mark.asyncio
async def test_s3_request_timeouts_are_retried(streamer, frameio):
    sha = streamer.media("a.mov", 9 * MIB, seed=14)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    await frameio.fault({"part_request_timeout": {"count": 2}})  # HTTP 400 RequestTimeout, twice
    progress = await collect(push_call(streamer.stub, streamer.root, "a.mov", created))
    assert progress[-1].phase == COMPLETE, progress[-1]
    report = await frameio.finished(created["id"])
    assert report["sha256"] == sha and report["upload_complete"]


@pytest.mark.asyncio
async def test_an_expired_part_url_ends_the_push_as_urls_expired(streamer, frameio):
    streamer.media("a.mov", 9 * MIB)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    await frameio.fault({"part_url_expired": {"count": 1}})
    progress = await collect(push_call(streamer.stub, streamer.root, "a.mov", created))
    assert progress[-1].phase == URLS_EXPIRED
    assert "HTTP 403 AccessDenied: Request has expired" in progress[-1].error


@pytest.mark.asyncio
async def test_cancelling_the_call_stops_the_push(streamer, frameio):
    streamer.media("a.mov", 9 * MIB)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    await frameio.fault({"rate_limit_burst": {"count": 1000, "path": "/_s3/*", "retry_after": 1}})
    call = push_call(streamer.stub, streamer.root, "a.mov", created)
    assert (await call.read()).phase == ACTIVE
    assert part_workers()
    call.cancel()
    await wait_for(lambda: push_server_span(streamer), message="the Push handler to end")
    assert part_workers() == []  # no part is still being read or retried


def part_workers() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "Push._worker"]


@pytest.mark.asyncio
async def test_an_oversize_message_is_refused_by_its_sender_and_by_the_streamer(streamer):
    streamer.media("a.mov", 1)
    header = streamer_pb2.PushHeader(path="a.mov", size=1, mtime_ns=(streamer.root / "a.mov").stat().st_mtime_ns)
    oversize = [streamer_pb2.UploadPart(size=1, url="https://s3.example/" + "t" * MAX_REQUEST_BYTES)]
    async with open_channel(f"127.0.0.1:{streamer.service.grpc_port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as by_sender:
            await collect(streamer_pb2_grpc.StreamerServiceStub(channel).Push(push_requests(header, oversize)))
    with pytest.raises(grpc.aio.AioRpcError) as by_streamer:  # a channel with gRPC's default (no send limit)
        await collect(streamer.stub.Push(push_requests(header, oversize)))
    assert by_sender.value.code() == by_streamer.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert by_sender.value.details().startswith("CLIENT: Sent message larger than max")
    assert by_streamer.value.details().startswith("SERVER: Received message larger than max")
