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
from opentelemetry.trace import SpanKind

from postflow.emulator.options import MIB, EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.testing.emulator import FrameioFiles
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, process_rss_peak_mb
from postflow.testing.streamer import collect, push_request
from postflow.v1 import streamer_pb2, streamer_pb2_grpc

ACTIVE, COMPLETE = streamer_pb2.TRANSFER_PHASE_ACTIVE, streamer_pb2.TRANSFER_PHASE_COMPLETE
SOURCE_CHANGED, FAILED = streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, streamer_pb2.TRANSFER_PHASE_FAILED


@pytest.mark.asyncio
async def test_push_stores_every_part_with_the_same_sha256(streamer, frameio):
    sha = streamer.media("SQ01/render.mov", 37 * MIB + 5, seed=4)
    created = await frameio.local_upload("render.mov", 37 * MIB + 5)
    assert len(created["upload_urls"]) == 10
    progress = await collect(streamer.stub.Push(push_request(streamer.root, "SQ01/render.mov", created,
                                                             concurrency=4)))
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
    progress = await collect(streamer.stub.Push(push_request(streamer.root, "a.mov", created)))
    assert progress[-1].phase == COMPLETE
    assert (await frameio.report(created["id"]))["sha256"] == sha


@pytest.mark.asyncio
async def test_every_part_put_is_a_client_span_in_the_push_s_trace(streamer, frameio):
    streamer.media("a.mov", 9 * MIB, seed=6)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    progress = await collect(streamer.stub.Push(push_request(streamer.root, "a.mov", created)))
    assert progress[-1].phase == COMPLETE

    def push_span():
        return next((s for s in streamer.spans.get_finished_spans()
                     if s.kind == SpanKind.SERVER and s.name.endswith("/Push")), None)

    push = await wait_for(push_span, message="the Push server span")
    puts = [s for s in streamer.spans.get_finished_spans() if s.kind == SpanKind.CLIENT and s.name.startswith("PUT")]
    assert len(puts) == len(created["upload_urls"]) == 3
    assert all(put.context.trace_id == push.context.trace_id for put in puts)


@pytest.mark.asyncio
async def test_a_part_refused_for_good_fails_the_push(streamer, frameio):
    streamer.media("a.mov", 5 * MIB)
    created = await frameio.local_upload("a.mov", 5 * MIB)
    request = push_request(streamer.root, "a.mov", created)
    request.content_type = "application/x-wrong"  # a signed header: S3 answers 403
    progress = await collect(streamer.stub.Push(request))
    assert progress[-1].phase == FAILED and "403" in progress[-1].error


@pytest.mark.asyncio
async def test_a_file_that_changes_during_the_push_is_reported(streamer, frameio):
    streamer.media("a.mov", 9 * MIB)
    created = await frameio.local_upload("a.mov", 9 * MIB)
    await frameio.fault({"rate_limit_burst": {"count": 1000, "path": "/_s3/*", "retry_after": 1}})
    call = streamer.stub.Push(push_request(streamer.root, "a.mov", created))
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
    request = push_request(streamer.root, "a.mov", created)
    request.mtime_ns += 1
    progress = await collect(streamer.stub.Push(request))
    assert [p.phase for p in progress] == [SOURCE_CHANGED]
    assert (await frameio.report(created["id"]))["parts"]["stored"] == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("damage", ["short", "no-parts", "bad-url", "outside", "concurrency"])
async def test_a_malformed_push_is_refused(streamer, frameio, damage):
    streamer.media("a.mov", MIB)
    created = await frameio.local_upload("a.mov", MIB)
    request = push_request(streamer.root, "a.mov", created)
    if damage == "short":
        request.parts[0].size -= 1
    elif damage == "no-parts":
        del request.parts[:]
    elif damage == "bad-url":
        request.parts[0].url = "file:///etc/passwd"
    elif damage == "concurrency":
        request.concurrency = -1
    else:
        request.path = "../a.mov"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(streamer.stub.Push(request))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.asyncio
@pytest.mark.slow
async def test_push_of_1_gib_from_a_streamer_process_stays_small(tmp_path):
    """The must-show: 1 GiB pushed by `python -m services.streamer` into the emulator, the
    sha256 equal, the streamer's peak RSS under 150 MB."""
    size = 1024 * MIB
    watch = tmp_path / "watch"
    sha = write_media(watch / "big.mov", size, seed=11)
    grpc_port, http_port = free_port(), free_port()
    config = {"watch": {"root": str(watch)}, "state_dir": str(tmp_path / "state"),
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
            request = push_request(watch, "big.mov", created)
            progress = [p async for p in stub.Push(request, wait_for_ready=True, timeout=240)]
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
    progress = await collect(streamer.stub.Push(push_request(streamer.root, "a.mov", created)))
    assert progress[-1].phase == COMPLETE
    # A pull afterwards: its events follow any the push would have published.
    streamer.media("b.mov", 1000)
    publication = await streamer.publish("b.mov", job_id="job-pull")
    async with httpx.AsyncClient() as client:
        assert (await client.get(publication.url)).status_code == 200
    await wait_for(lambda: any(e.transfer.phase == COMPLETE for e in seen if e.HasField("transfer")),
                   message="the pull's COMPLETE event")
    assert {e.transfer.kind for e in seen if e.HasField("transfer")} == {streamer_pb2.TRANSFER_KIND_PULL}
