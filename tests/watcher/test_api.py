"""The job API over a real gRPC channel: submit, get, list, watch (resumable), retry,
cancel, stats, health; and resuming an attempt that created its file but died before
recording it."""

import asyncio
import time
from collections import Counter

import grpc
import pytest
from opentelemetry.trace import SpanKind

from postflow.core.config import load_config
from postflow.core.rpc import check_health
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.rpc import rpc_error
from postflow.testing.watcher import environment, list_jobs, start_watcher, wait_job_state, wait_jobs
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.jobs import PULL, UPLOADING, Job, new_job_id
from services.watcher.ledger import Ledger

QUEUED, PREPARING = common_pb2.JOB_STATE_QUEUED, common_pb2.JOB_STATE_PREPARING
DONE, CANCELLED = common_pb2.JOB_STATE_DONE, common_pb2.JOB_STATE_CANCELLED
SNAPSHOT, SNAPSHOT_END = watcher_pb2.JOB_EVENT_KIND_SNAPSHOT, watcher_pb2.JOB_EVENT_KIND_SNAPSHOT_END
PROGRESS = watcher_pb2.JOB_EVENT_KIND_PROGRESS


@pytest.mark.asyncio
async def test_submit_file_validates_and_queues(tmp_path):
    async with environment(tmp_path, watch={"include": ["*.mov"]}) as env:
        stub = await start_watcher(env)
        outside = tmp_path / "outside.mov"
        outside.write_bytes(b"x")
        error = await rpc_error(stub.SubmitFile(watcher_pb2.SubmitFileRequest(path=str(outside))))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "not inside the watch root" in error.details()
        error = await rpc_error(stub.SubmitFile(watcher_pb2.SubmitFileRequest(path="../outside.mov")))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        error = await rpc_error(stub.SubmitFile(watcher_pb2.SubmitFileRequest(path="nope.mov")))
        assert error.code() == grpc.StatusCode.NOT_FOUND and "nope.mov" in error.details()
        error = await rpc_error(stub.SubmitFile(watcher_pb2.SubmitFileRequest(path="")))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT

        # not matched by the include globs, so the scanner ignores it; submitting it works
        sha = write_media(env.root / "renders/final.mxf", 20_000)
        job = await stub.SubmitFile(watcher_pb2.SubmitFileRequest(
            path=str(env.root / "renders/final.mxf"), destination="/Deliveries/Today/"))
        assert job.path == "renders/final.mxf" and job.destination == "Deliveries/Today" and job.trace_id
        again = await stub.SubmitFile(watcher_pb2.SubmitFileRequest(path="renders/final.mxf"))
        assert again.id == job.id
        (done,) = await wait_jobs(stub, 1)
        (file,) = await env.files()
        assert file["folder_path"] == "Deliveries/Today" and file["sha256"] == sha
        assert (await stub.GetJob(watcher_pb2.GetJobRequest(id=job.id))).view_url == done.view_url
        # one trace per job: the root span, attempts under it, Frame.io and streamer calls under those
        spans = [s for s in env.spans.get_finished_spans() if format(s.context.trace_id, "032x") == job.trace_id]
        names = {s.name for s in spans}
        assert {"postflow.upload", "postflow.upload.attempt"} <= names
        assert any(s.name.startswith(("GET", "POST")) for s in spans)  # httpx client spans
        assert any("StreamerService/Publish" in s.name for s in spans)
        error = await rpc_error(stub.GetJob(watcher_pb2.GetJobRequest(id="missing")))
        assert error.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.asyncio
async def test_the_submit_file_call_is_linked_to_the_trace_of_the_upload_it_queued(tmp_path):
    async with environment(tmp_path, watch={"include": ["*.mov"]}) as env:
        stub = await start_watcher(env)
        write_media(env.root / "detected.mov", 1000)
        write_media(env.root / "renders/final.mxf", 20_000)  # not included: only SubmitFile queues it
        submitted = await stub.SubmitFile(watcher_pb2.SubmitFileRequest(path="renders/final.mxf"))
        jobs = {j.path: j for j in await wait_jobs(stub, 2)}

        def spans():
            finished = env.spans.get_finished_spans()
            calls = [s for s in finished if s.kind == SpanKind.SERVER and s.name.endswith("WatcherService/SubmitFile")]
            roots = {s.attributes["postflow.job_id"]: s for s in finished if s.name == "postflow.upload"}
            return (calls, roots) if calls and len(roots) == 2 else None

        (call,), roots = await wait_for(spans, message="the SubmitFile span and both upload roots")
        root = roots[submitted.id]
        assert root.parent is None and format(root.context.trace_id, "032x") == submitted.trace_id
        assert [(link.context.trace_id, link.context.span_id) for link in root.links] == \
            [(call.context.trace_id, call.context.span_id)]
        assert call.context.trace_id != root.context.trace_id  # the upload keeps a trace of its own
        assert not roots[jobs["detected.mov"].id].links  # the scanner's jobs have no caller


@pytest.mark.asyncio
async def test_version_policy_chooses_between_stacking_and_a_separate_file(tmp_path):
    async with environment(tmp_path, watch={"include": ["*.mov"], "exclude": [".*", "manual"]}) as env:
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 1000, seed=1)
        await wait_jobs(stub, 1)
        write_media(env.root / "manual/x/a.mov", 2000, seed=2)
        await stub.SubmitFile(watcher_pb2.SubmitFileRequest(
            path="manual/x/a.mov", destination="/", version_policy=watcher_pb2.VERSION_POLICY_SEPARATE))
        await wait_jobs(stub, 2)
        write_media(env.root / "manual/y/a.mov", 3000, seed=3)
        await stub.SubmitFile(watcher_pb2.SubmitFileRequest(
            path="manual/y/a.mov", destination="/", version_policy=watcher_pb2.VERSION_POLICY_STACK))
        await wait_jobs(stub, 3)
        files = sorted(await env.files(), key=lambda f: f["created_at"])
        assert [f["folder_path"] for f in files] == ["", "", ""]
        assert files[0]["version_stack_id"] is None  # the separate file did not stack with it
        assert files[1]["version_stack_id"] and files[1]["version_stack_id"] == files[2]["version_stack_id"]


@pytest.mark.asyncio
async def test_list_jobs_filters_and_pages(tmp_path):
    async with environment(tmp_path) as env:
        stub = await start_watcher(env)
        for i in range(5):
            write_media(env.root / f"SQ0{i % 2}/f{i}.mov", 1000 + i)
        await wait_jobs(stub, 5)
        seen, token = [], ""
        while True:
            page = await stub.ListJobs(watcher_pb2.ListJobsRequest(page_size=2, page_token=token))
            assert page.total == 5 and len(page.jobs) <= 2
            seen += [j.id for j in page.jobs]
            token = page.next_page_token
            if not token:
                break
        assert len(set(seen)) == 5
        only = await stub.ListJobs(watcher_pb2.ListJobsRequest(path_prefix="SQ01/", states=[DONE]))
        assert only.total == 2 and all(j.path.startswith("SQ01/") for j in only.jobs)
        none = await stub.ListJobs(watcher_pb2.ListJobsRequest(states=[common_pb2.JOB_STATE_FAILED]))
        assert none.total == 0
        error = await rpc_error(stub.ListJobs(watcher_pb2.ListJobsRequest(page_token="garbage")))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


class Rows:
    """The jobs as a WatchJobs client sees them, checking that each event's totals are its rows'."""

    def __init__(self) -> None:
        self.jobs: dict[str, common_pb2.Job] = {}

    def apply(self, event: watcher_pb2.JobEvent) -> None:
        if event.kind != SNAPSHOT_END:
            self.jobs[event.job.id] = event.job
        if event.kind == SNAPSHOT:
            return  # the snapshot's totals hold for the whole of it, checked at its end
        states = Counter(common_pb2.JobState.Name(j.state).removeprefix("JOB_STATE_").lower()
                         for j in self.jobs.values())
        done = [j for j in self.jobs.values() if j.state == DONE]
        totals = event.totals
        assert set(totals.jobs_by_state) == {"queued", "preparing", "uploading", "verifying", "waiting", "done",
                                             "failed", "cancelled"}
        assert {name: count for name, count in totals.jobs_by_state.items() if count} == dict(states), event
        assert (totals.files_delivered, totals.bytes_delivered) == (len(done), sum(j.size for j in done))


@pytest.mark.asyncio
async def test_watch_jobs_snapshot_then_live_and_resume_by_seq(tmp_path):
    async with environment(tmp_path) as env:
        stub = await start_watcher(env)
        write_media(env.root / "first.mov", 1000)
        await wait_jobs(stub, 1)
        stream = stub.WatchJobs(watcher_pb2.WatchJobsRequest(after_seq=0))
        rows = Rows()
        events = []
        async for event in stream:
            events.append(event)
            rows.apply(event)
            if event.kind == SNAPSHOT_END:
                break
        assert [e.kind for e in events] == [SNAPSHOT, SNAPSHOT_END]
        assert events[0].job.path == "first.mov" and events[0].job.state == DONE
        assert events[0].totals == events[1].totals and events[1].totals.files_delivered == 1
        resume_from = events[-1].seq
        env.streamer.serve_bytes_per_s = 2_000_000
        write_media(env.root / "second.mov", 1_500_000)
        live = []
        async for event in stream:
            live.append(event)
            rows.apply(event)
            if event.job.state == DONE:
                break
        stream.cancel()
        assert live[0].kind == watcher_pb2.JOB_EVENT_KIND_CREATED and live[0].job.path == "second.mov"
        assert [e.seq for e in live] == sorted(e.seq for e in live) and live[0].seq > resume_from
        progress = [e for e in live if e.kind == PROGRESS]
        assert progress and all(e.seq == previous.seq for previous, e in zip(live, live[1:], strict=False)
                                if e.kind == PROGRESS)  # the number of the change before it
        assert any(e.job.connections > 0 and e.job.state == UPLOADING for e in progress)
        assert live[-1].totals.files_delivered == 2 and live[-1].totals.jobs_by_state["done"] == 2
        # resuming from a sequence number replays exactly the changes after it, no snapshot
        replay = []
        resumed = stub.WatchJobs(watcher_pb2.WatchJobsRequest(after_seq=resume_from))
        async for event in resumed:
            replay.append(event)
            if event.seq == live[-1].seq:
                break
        resumed.cancel()
        changes = [e for e in live if e.kind != PROGRESS]
        assert [(e.seq, e.kind, e.job, e.totals) for e in replay] == \
            [(e.seq, e.kind, e.job, e.totals) for e in changes]
        # the ledger stores the changes, not the progress
        stored = await env.watchers[0].service.ledger.events_after(0)
        assert PROGRESS not in {e.kind for e in stored} and len(stored) == resume_from + len(changes)


@pytest.mark.asyncio
async def test_resuming_from_a_progress_event_misses_no_change(tmp_path):
    async with environment(tmp_path) as env:
        env.streamer.serve_bytes_per_s = 1_000_000
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 3_000_000)
        stream = stub.WatchJobs(watcher_pb2.WatchJobsRequest(after_seq=0))
        async for event in stream:
            if event.kind == PROGRESS:
                break
        stream.cancel()
        env.streamer.serve_bytes_per_s = None
        (done,) = await wait_jobs(stub, 1)
        resumed = stub.WatchJobs(watcher_pb2.WatchJobsRequest(after_seq=event.seq))
        replay = []
        async for later in resumed:
            replay.append(later)
            if later.job.state == DONE:
                break
        resumed.cancel()
        assert replay[0].kind != SNAPSHOT and replay[0].seq == event.seq + 1
        assert [e.job.state for e in replay][-2:] == [common_pb2.JOB_STATE_VERIFYING, DONE]


@pytest.mark.asyncio
async def test_push_progress_comes_from_the_push_call_only(tmp_path):
    async with environment(tmp_path, transfer={"mode": "push"}) as env:
        env.streamer.push_on_watch_events = True  # copies marked with 99 connections
        stub = await start_watcher(env)
        stream = stub.WatchJobs(watcher_pb2.WatchJobsRequest(after_seq=0))
        write_media(env.root / "big.mov", 40 * 1024 * 1024 + 5)
        rows, progress = Rows(), []
        async for event in stream:
            rows.apply(event)
            if event.kind == PROGRESS:
                progress.append(event.job)
            if event.job.state == DONE:
                break
        stream.cancel()
        assert progress and {j.connections for j in progress} == {1}  # the Push call's parts in flight
        assert [j.bytes_done for j in progress] == sorted(j.bytes_done for j in progress)


@pytest.mark.asyncio
async def test_cancel_and_retry(tmp_path):
    async with environment(tmp_path) as env:
        env.streamer.hold_publish = asyncio.Event()
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 1000)
        job = await wait_job_state(stub, "a.mov", PREPARING)
        cancelled = await stub.CancelJob(watcher_pb2.CancelJobRequest(id=job.id))
        assert cancelled.state == CANCELLED and cancelled.error == "cancelled on request"
        again = await stub.CancelJob(watcher_pb2.CancelJobRequest(id=job.id))
        assert again.state == CANCELLED
        env.streamer.hold_publish.set()
        retried = await stub.RetryJob(watcher_pb2.RetryJobRequest(id=job.id))
        assert retried.state == QUEUED
        (done,) = await wait_jobs(stub, 1)
        assert done.id == job.id and len(await env.files()) == 1
        error = await rpc_error(stub.RetryJob(watcher_pb2.RetryJobRequest(id=job.id)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        error = await rpc_error(stub.CancelJob(watcher_pb2.CancelJobRequest(id=job.id)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.asyncio
async def test_stats_and_health(tmp_path):
    async with environment(tmp_path) as env:
        stub = await start_watcher(env)
        address = f"127.0.0.1:{env.watchers[0].service.grpc_port}"

        async def serving():
            return await check_health(address) == "SERVING"

        await wait_for(serving, message="SERVING")
        write_media(env.root / "a.mov", 1234)
        write_media(env.root / ".hidden.mov", 10)
        await wait_jobs(stub, 1)
        stats = await stub.GetStats(watcher_pb2.GetStatsRequest())
        assert stats.jobs_by_state["done"] == 1 and stats.jobs_by_state["queued"] == 0 and len(stats.jobs_by_state) == 8
        assert (stats.files_delivered, stats.bytes_delivered, stats.files_seen) == (1, 1234, 1)
        assert stats.watch_root == str(env.root.resolve()) and stats.last_seq > 0
        assert time.time() - stats.last_scan_at.ToSeconds() < 5 and stats.last_scan_s >= 0


@pytest.mark.asyncio
async def test_an_attempt_that_died_after_creating_its_file_adopts_it(tmp_path):
    """The crash window between files/remote_upload answering and the id being stored."""
    async with environment(tmp_path) as env:
        sha = write_media(env.root / "a.mov", 300_000)
        st = (env.root / "a.mov").stat()
        seeded = await env.seeded()
        publication = env.streamer.publish_now("a.mov", "j")
        before = time.time()
        created = await env.frameio(f"/v4/accounts/{seeded['account_id']}/folders/{seeded['root_folder_id']}"
                                    "/files/remote_upload", "POST", {"name": "a.mov", "source_url": publication.url})
        ledger = Ledger(load_config(env.config_path).state_path / "watcher" / "ledger.sqlite")
        await ledger.open()
        job = Job(id=new_job_id(), path="a.mov", size=st.st_size, mtime_ns=st.st_mtime_ns, state=UPLOADING,
                  max_attempts=5, created_at=before, updated_at=before, attempts=1, mode=PULL,
                  folder_id=seeded["root_folder_id"], ticket_id=publication.ticket_id, source_url=publication.url,
                  create_started_at=before - 0.1)
        await ledger.register([job], "detected")
        await ledger.close()
        stub = await start_watcher(env)
        (done,) = await wait_jobs(stub, 1)
        files = await env.files()
        assert [(f["id"], f["sha256"]) for f in files] == [(created["data"]["id"], sha)]
        assert done.frameio_file_id == files[0]["id"] and env.streamer.publish_calls == 0
        assert len(await list_jobs(stub)) == 1
