"""The watcher against the strict emulator's Frame.io: processing that outlasts the stall
timeout, a refused remote upload (400), and a version stack that puts new files at the bottom."""

import pytest

from postflow.testing.media import write_media
from postflow.testing.watcher import environment, list_jobs, start_watcher, wait_job_state, wait_jobs
from postflow.v1 import common_pb2
from services.watcher.delivery import completion

WAITING = common_pb2.JOB_STATE_WAITING


@pytest.mark.asyncio
async def test_processing_longer_than_the_stall_timeout_delivers_once_and_deletes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(completion, "STALL_S", 0.5)
    async with environment(tmp_path) as env:
        await env.faults(processing_delay_s=2.5)
        stub = await start_watcher(env)
        sha = write_media(env.root / "a.mov", 200_000)
        (job,) = await wait_jobs(stub, 1, timeout=30)
        report = await env.emulator_report()
    assert job.attempts == 1
    assert [(f["sha256"], f["upload_complete"]) for f in report["files"]] == [(sha, True)]
    assert report["deleted"] == []


@pytest.mark.asyncio
async def test_a_remote_upload_refused_with_400_is_retried_then_delivered(tmp_path):
    async with environment(tmp_path, watch={"backoff_base_s": 1.0}) as env:
        await env.faults(remote_upload_refusal=400)
        env.streamer.unreachable = True  # Frame.io cannot read the source: 400
        stub = await start_watcher(env)
        sha = write_media(env.root / "a.mov", 100_000)
        waiting = await wait_job_state(stub, "a.mov", WAITING)
        assert "could not read the published URL" in waiting.error and "400" in waiting.error
        env.streamer.unreachable = False
        (job,) = await wait_jobs(stub, 1, timeout=30)
        files = await env.files()
    assert job.attempts >= 2 and job.mode == common_pb2.TRANSFER_MODE_PULL
    assert [(f["sha256"], f["upload_complete"]) for f in files] == [(sha, True)]


@pytest.mark.asyncio
async def test_new_versions_placed_at_the_bottom_are_moved_to_the_top(tmp_path):
    async with environment(tmp_path) as env:
        await env.faults(version_stack_placement="bottom")
        stub = await start_watcher(env)
        path = env.root / "SQ01/comp.mov"
        for version in (1, 2, 3):
            write_media(path, 100_000 + version, seed=version)
            await wait_jobs(stub, version, timeout=20)
        jobs = sorted(await list_jobs(stub), key=lambda j: j.created_at.ToNanoseconds())
        seeded = await env.seeded()
        stack_id = jobs[-1].version_stack_id
        children = await env.frameio(f"/v4/accounts/{seeded['account_id']}/version_stacks/{stack_id}/children")
    assert [j.version for j in jobs] == [0, 2, 3]
    assert [c["id"] for c in children["data"]] == [j.frameio_file_id for j in reversed(jobs)]  # newest first
