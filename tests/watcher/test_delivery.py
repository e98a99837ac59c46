"""Orchestration against the emulator: slow writers, bursts with mirrored folders, version
stacks, push mode, and a file that changes while it is being pulled."""

import asyncio
import logging
import os
import time

import pytest

from postflow import frameio
from postflow.core.protos import timestamp
from postflow.emulator.options import EmulatorOptions
from postflow.testing.media import sha256_file, write_media
from postflow.testing.polling import wait_for
from postflow.testing.watcher import environment, error_records, list_jobs, start_watcher, wait_job_state, wait_jobs
from postflow.v1 import common_pb2, streamer_pb2, watcher_pb2
from services.watcher.delivery.attempt import TRANSFER_RESTARTS

UPLOADING = common_pb2.JOB_STATE_UPLOADING
IN_FLIGHT = {common_pb2.JOB_STATE_PREPARING, UPLOADING, common_pb2.JOB_STATE_VERIFYING}


def by_name(files: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for file in files:
        grouped.setdefault(f"{file['folder_path']}/{file['name']}".lstrip("/"), []).append(file)
    return grouped


@pytest.mark.asyncio
@pytest.mark.slow
async def test_a_file_written_slowly_over_20s_is_shipped_once_and_complete(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path, watch={"stable_after_s": 1.5}) as env:
        stub = await start_watcher(env)
        path = env.root / "SQ01/SH010/slow_render.mov"
        path.parent.mkdir(parents=True)
        chunk = os.urandom(64 * 1024)
        started = time.monotonic()
        with open(path, "wb") as out:
            while time.monotonic() - started < 20:
                out.write(chunk)
                out.flush()
                await asyncio.sleep(0.25)  # the slow writer itself, not synchronisation
                assert await list_jobs(stub) == [], "a job was created while the file was still growing"
        (job,) = await wait_jobs(stub, 1, timeout=30)
        assert job.size == path.stat().st_size
        files = await env.files()
        assert len(files) == 1
        assert files[0]["upload_complete"] and files[0]["sha256"] == sha256_file(path)
        assert files[0]["folder_path"] == "SQ01/SH010"
    assert error_records(caplog) == []
    info = [r for r in caplog.records if r.name.startswith("services.watcher.") and r.levelno == logging.INFO
            and r.name != "services.watcher.server"]
    assert len(info) <= 10, [r.getMessage() for r in info]


@pytest.mark.asyncio
async def test_burst_of_50_files_with_max_concurrent_4_all_delivered_in_mirrored_folders(tmp_path, caplog,
                                                                                       monkeypatch):
    # Frame.io's 5 uploads/s would make this test last 10 s; the client-side limits have a
    # test of their own (test_faults.py), so here they are lifted.
    monkeypatch.setitem(frameio.RATE_LIMITS, "upload", (50, 1.0))
    monkeypatch.setitem(frameio.RATE_LIMITS, "folder_create", (30, 1.0))
    async with environment(tmp_path, watch={"max_concurrent": 4}) as env:
        stub = await start_watcher(env)
        expected = {}
        for i in range(50):
            rel = f"SQ0{i % 2}/SH{i % 4:03d}/shot_{i:02d}.mov"
            expected[rel] = write_media(env.root / rel, 50_000 + i, seed=i)
        await wait_jobs(stub, 50, timeout=60)
        files = by_name(await env.files())
        assert set(files) == set(expected)
        for rel, sha in expected.items():
            (file,) = files[rel]
            assert file["upload_complete"] and file["sha256"] == sha
        # never more than 4 in flight: replay every state change the ledger recorded
        states, peak = {}, 0
        for event in await env.watchers[0].service.ledger.events_after(0, limit=100_000):
            states[event.job.id] = event.job.state
            peak = max(peak, sum(1 for s in states.values() if s in IN_FLIGHT))
        assert 1 < peak <= 4
        folders = {f["folder_path"] for f in await env.files()}
        assert folders == {f"SQ0{i % 2}/SH{i % 4:03d}" for i in range(50)}
    assert error_records(caplog) == []


@pytest.mark.asyncio
async def test_v1_v2_v3_of_one_name_become_one_stack_of_three_newest_on_top(tmp_path):
    async with environment(tmp_path) as env:
        stub = await start_watcher(env)
        path = env.root / "SQ01/SH010/SQ01_SH010_comp.mov"
        shas = []
        for version in (1, 2, 3):
            shas.append(write_media(path, 100_000 + version, seed=version))
            await wait_jobs(stub, version, timeout=20)
        jobs = sorted(await list_jobs(stub), key=lambda j: j.created_at.ToNanoseconds())
        assert [j.version for j in jobs] == [0, 2, 3]  # v1 was alone until v2 joined it
        files = sorted(await env.files(), key=lambda f: f["created_at"])
        assert [f["sha256"] for f in files] == shas
        stack_id = files[0]["version_stack_id"]
        assert stack_id and all(f["version_stack_id"] == stack_id for f in files)
        assert {j.version_stack_id for j in jobs[1:]} == {stack_id}
        seeded = await env.seeded()
        stack = await env.frameio(f"/v4/accounts/{seeded['account_id']}/version_stacks/{stack_id}")
        assert stack["data"]["head_version"]["id"] == files[-1]["id"]
        children = await env.frameio(f"/v4/accounts/{seeded['account_id']}/version_stacks/{stack_id}/children")
        assert [c["id"] for c in children["data"]] == [f["id"] for f in reversed(files)]  # head first


@pytest.mark.asyncio
async def test_push_mode_delivers_by_parts(tmp_path):
    async with environment(tmp_path, transfer={"mode": "push"}) as env:
        stub = await start_watcher(env)
        sha = write_media(env.root / "big.mov", 40 * 1024 * 1024 + 123, seed=5)
        (job,) = await wait_jobs(stub, 1, timeout=30)
        assert job.mode == common_pb2.TRANSFER_MODE_PUSH
        (file,) = await env.files()
        assert file["method"] == "local" and file["upload_complete"] and file["sha256"] == sha
        assert file["parts"]["count"] == file["parts"]["stored"] > 1
        assert env.streamer.publish_calls == 0


@pytest.mark.asyncio
async def test_auto_mode_pushes_when_the_tunnel_is_down(tmp_path):
    async with environment(tmp_path) as env:
        env.streamer.set_tunnel(state=streamer_pb2.TUNNEL_STATE_DOWN, public_url="")
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 10_000)
        (job,) = await wait_jobs(stub, 1, timeout=20)
        assert job.mode == common_pb2.TRANSFER_MODE_PUSH
        assert [f["method"] for f in await env.files()] == ["local"]


@pytest.mark.asyncio
async def test_a_file_changed_while_it_is_pulled_restarts_on_the_new_content(tmp_path):
    async with environment(tmp_path) as env:
        env.streamer.serve_bytes_per_s = 500_000
        stub = await start_watcher(env)
        path = env.root / "SQ01/take.mov"
        write_media(path, 2_000_000, seed=1)
        await wait_job_state(stub, "SQ01/take.mov", UPLOADING)
        env.streamer.serve_bytes_per_s = None
        new_sha = write_media(path, 1_500_000, seed=2)
        (job,) = await wait_jobs(stub, 1, timeout=30)
        assert job.size == 1_500_000
        files = await env.files()
        assert [(f["sha256"], f["upload_complete"]) for f in files] == [(new_sha, True)]  # the torn one was deleted


async def slow_pull_in_flight(env):
    """A 3 MB file that Frame.io has started pulling, slowly: (watcher stub, sha256)."""
    env.streamer.serve_bytes_per_s = 500_000
    stub = await start_watcher(env)
    sha = write_media(env.root / "a.mov", 3_000_000)
    await wait_job_state(stub, "a.mov", UPLOADING)
    await wait_for(lambda: env.streamer.requests, message="the puller to start")
    return stub, sha


@pytest.mark.asyncio
async def test_a_pull_failed_by_a_dead_tunnel_is_reissued_without_spending_an_attempt(tmp_path):
    async with environment(tmp_path) as env:
        stub, sha = await slow_pull_in_flight(env)
        env.streamer.tunnel_down()  # Frame.io's pull fails; no new URL is announced
        (job,) = await wait_jobs(stub, 1, timeout=30)
        assert (job.attempts, job.mode) == (1, common_pb2.TRANSFER_MODE_PUSH)
        files = await env.files()
        assert [(f["sha256"], f["upload_complete"]) for f in files] == [(sha, True)]  # the failed pull was deleted


@pytest.mark.asyncio
async def test_a_tunnel_dying_between_publish_and_frameio_probing_it_costs_no_attempt(tmp_path):
    async with environment(tmp_path) as env:
        env.streamer.die_after_publish = True  # Frame.io's probe of the URL gets a 502: remote_upload 422
        stub = await start_watcher(env)
        sha = write_media(env.root / "a.mov", 100_000)
        (job,) = await wait_jobs(stub, 1, timeout=30)
        assert (job.attempts, job.mode) == (1, common_pb2.TRANSFER_MODE_PUSH)
        assert [(f["sha256"], f["upload_complete"]) for f in await env.files()] == [(sha, True)]


@pytest.mark.asyncio
async def test_a_pull_refused_while_a_new_tunnel_settles_costs_no_attempt(tmp_path):
    async with environment(tmp_path) as env:
        env.streamer.set_tunnel(since=timestamp())  # the tunnel just came up with a new hostname …
        env.streamer.unreachable = True  # … that Cloudflare's edge does not route yet: remote_upload 422
        asyncio.get_running_loop().call_later(1.0, setattr, env.streamer, "unreachable", False)
        stub = await start_watcher(env)
        sha = write_media(env.root / "a.mov", 100_000)
        (job,) = await wait_jobs(stub, 1, timeout=30)
        assert (job.attempts, job.mode) == (1, common_pb2.TRANSFER_MODE_PULL)
        assert env.streamer.publish_calls >= 2
        assert [(f["sha256"], f["upload_complete"]) for f in await env.files()] == [(sha, True)]


@pytest.mark.asyncio
async def test_a_tunnel_url_change_reissues_the_pull(tmp_path):
    async with environment(tmp_path) as env:
        stub, sha = await slow_pull_in_flight(env)
        env.streamer.serve_bytes_per_s = None
        env.streamer.change_tunnel_url()
        (job,) = await wait_jobs(stub, 1, timeout=30)
        assert env.streamer.publish_calls == 2
        files = await env.files()
        assert [(f["sha256"], f["upload_complete"]) for f in files] == [(sha, True)]
        assert job.frameio_file_id == files[0]["id"]


@pytest.mark.asyncio
async def test_cancelling_a_pull_in_flight_revokes_its_url_and_deletes_the_incomplete_file(tmp_path):
    async with environment(tmp_path) as env:
        stub, _ = await slow_pull_in_flight(env)
        (job,) = await list_jobs(stub)
        cancelled = await stub.CancelJob(watcher_pb2.CancelJobRequest(id=job.id))
        assert cancelled.state == common_pb2.JOB_STATE_CANCELLED

        async def cleaned_up():
            report = await env.emulator_report()
            return report if not report["files"] and report["deleted"] else None

        report = await wait_for(cleaned_up, message="the incomplete file deleted")
        assert [f["id"] for f in report["deleted"]] == [job.frameio_file_id]
        assert all(ticket.revoked for ticket in env.streamer.tickets.values())


@pytest.mark.asyncio
async def test_expired_part_urls_start_a_fresh_upload_at_no_attempt_s_cost(tmp_path):
    async with environment(tmp_path, transfer={"mode": "push"}) as env:
        await env.faults(part_url_expired={"count": 1})  # S3: 403 AccessDenied "Request has expired"
        stub = await start_watcher(env)
        sha = write_media(env.root / "a.mov", 100_000)
        (job,) = await wait_jobs(stub, 1, timeout=30)
        assert (job.attempts, job.mode) == (1, common_pb2.TRANSFER_MODE_PUSH)
        report = await env.emulator_report()
    assert env.streamer.push_calls == 2
    assert [(f["sha256"], f["upload_complete"]) for f in report["files"]] == [(sha, True)]
    assert [f["name"] for f in report["deleted"]] == ["a.mov"]  # the file whose URLs expired


@pytest.mark.asyncio
async def test_part_urls_that_keep_expiring_spend_the_attempt_after_a_few_fresh_uploads(tmp_path):
    """URLs dead on arrival (a zero lifetime): each expiry starts a fresh upload, the expired
    file deleted, TRANSFER_RESTARTS times; then the attempt is spent, with the reason."""
    options = EmulatorOptions(rate_limits=False, upload_url_ttl_s=0)
    async with environment(tmp_path, transfer={"mode": "push"}, watch={"max_attempts": 1}, emulator=options) as env:
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 10_000)
        (job,) = await wait_jobs(stub, 1, state=common_pb2.JOB_STATE_FAILED)
        assert job.attempts == 1
        assert "the part URLs expired before every part was stored" in job.error and "4 transfers in a row" in job.error
        assert "HTTP 403 AccessDenied: Request has expired" in job.error
        report = await env.emulator_report()
    assert env.streamer.push_calls == TRANSFER_RESTARTS + 1
    assert len(report["deleted"]) == TRANSFER_RESTARTS  # each expired file, when its fresh upload started
