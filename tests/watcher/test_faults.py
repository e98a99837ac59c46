"""Emulator faults (429 bursts, 5xx, puller hang-ups, token expiry), reconnect waits and
exhausted retries: recovered faults end DONE with no ERROR log line."""

import asyncio
import logging

import pytest

from postflow.emulator.options import EmulatorOptions
from postflow.testing.fakes import FakeAuth
from postflow.testing.media import write_media
from postflow.testing.watcher import environment, error_records, list_jobs, start_watcher, wait_job_state, wait_jobs
from postflow.v1 import auth_pb2, common_pb2, watcher_pb2

WAITING = common_pb2.JOB_STATE_WAITING
FAILED = common_pb2.JOB_STATE_FAILED


async def deliver_under(tmp_path, caplog, count: int = 3, size: int = 600_000, **faults) -> tuple[list[dict], FakeAuth]:
    """Drops `count` files with `faults` injected; all must be delivered exactly once.
    Returns what the emulator holds and the auth fake (to see the token requests)."""
    caplog.set_level(logging.INFO)
    async with environment(tmp_path) as env:
        await env.faults(**faults)
        stub = await start_watcher(env)
        expected = {f"SQ01/f{i}.mov": write_media(env.root / f"SQ01/f{i}.mov", size + i, seed=i)
                    for i in range(count)}
        await wait_jobs(stub, count, timeout=40)
        files = await env.files()
    assert sorted((f"{f['folder_path']}/{f['name']}", f["sha256"]) for f in files) == sorted(expected.items())
    assert all(f["upload_complete"] for f in files)
    assert error_records(caplog) == [], [r.getMessage() for r in error_records(caplog)]
    return files, env.auth


@pytest.mark.asyncio
async def test_429_bursts_are_waited_out(tmp_path, caplog):
    await deliver_under(tmp_path, caplog, rate_limit_burst={"count": 1, "path": "/v4/*", "retry_after": 1})
    assert any(" 429 " in r.getMessage() for r in caplog.records if r.name == "httpx")


@pytest.mark.asyncio
async def test_a_429_storm_longer_than_the_retries_never_fails_a_job(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path, watch={"max_attempts": 1}) as env:
        await env.faults(rate_limit_burst={"count": 20, "path": "/v4/*", "retry_after": 0})  # > 3 × 6 tries
        stub = await start_watcher(env)
        sha = write_media(env.root / "a.mov", 5000)
        (job,) = await wait_jobs(stub, 1, timeout=40)
        assert job.attempts == 1
        assert [(f["sha256"], f["upload_complete"]) for f in await env.files()] == [(sha, True)]
    assert any("Frame.io is rate limiting" in r.getMessage() for r in caplog.records)
    assert error_records(caplog) == []


@pytest.mark.asyncio
async def test_5xx_errors_are_retried(tmp_path, caplog):
    await deliver_under(tmp_path, caplog, server_error={"status": 503, "path": "/v4/*", "nth": 2, "count": 2})


@pytest.mark.asyncio
async def test_5xx_on_creation_is_retried_without_a_duplicate(tmp_path, caplog):
    await deliver_under(tmp_path, caplog, count=2,
                        server_error={"status": 500, "path": "*/files/remote_upload", "nth": 1, "count": 2})


@pytest.mark.asyncio
async def test_a_job_whose_creation_got_a_5xx_waits_frameios_minimum_before_its_next_attempt(tmp_path):
    wait_s = 30.0
    async with environment(tmp_path, frameio={"server_error_backoff_s": wait_s}) as env:
        await env.faults(server_error={"status": 502, "path": "*/files/remote_upload", "nth": 1, "count": 1})
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 1000)
        job = await wait_job_state(stub, "a.mov", WAITING, timeout=20)
    assert "HTTP 502" in job.error
    assert job.next_attempt_at.ToSeconds() - job.updated_at.ToSeconds() >= wait_s


@pytest.mark.asyncio
async def test_puller_hang_ups_are_survived(tmp_path, caplog):
    files, _ = await deliver_under(tmp_path, caplog, pull_disconnect={"at_byte": 300_000, "mode": "once"},
                                pull_strategy={"mode": "single"})
    assert all(f["pull"]["disconnects"] == 1 for f in files)


@pytest.mark.asyncio
async def test_token_expiry_is_refreshed(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path) as env:
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 1000)
        await wait_jobs(stub, 1)
        await env.faults(expire_access_tokens=True)
        write_media(env.root / "b.mov", 2000)
        await wait_jobs(stub, 2)
        assert [r.force_refresh for r in env.auth.requests].count(True) == 1
        assert len(await env.files()) == 2
    assert error_records(caplog) == []


@pytest.mark.asyncio
async def test_short_lived_tokens(tmp_path, caplog):
    _, auth = await deliver_under(tmp_path, caplog, count=1, size=400_000, access_token_ttl=1,
                                  pull_bytes_per_s=250_000)
    refreshes = [r for r in auth.requests if r.force_refresh]
    assert refreshes and all(r.rejected_token for r in refreshes)


@pytest.mark.asyncio
async def test_rate_limits_are_respected_client_side(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path, watch={"max_concurrent": 8}, emulator=EmulatorOptions(rate_limits=True)) as env:
        stub = await start_watcher(env)
        for i in range(8):
            write_media(env.root / f"f{i:02d}.mov", 10_000 + i, seed=i)
        await wait_jobs(stub, 8, timeout=60)
        assert len(await env.files()) == 8
    answers = [r.getMessage() for r in caplog.records if r.name == "httpx" and "/v4/" in r.getMessage()]
    assert answers and not [a for a in answers if " 429 " in a]
    assert error_records(caplog) == []


@pytest.mark.asyncio
async def test_jobs_wait_for_a_reconnect_without_spending_attempts(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path) as env:
        env.auth.set_status(state=auth_pb2.AUTH_STATE_RECONNECT_NEEDED)
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 5000)
        job = await wait_job_state(stub, "a.mov", WAITING)
        assert job.waiting_reason == "Frame.io reconnect needed" and job.attempts == 0
        env.auth.set_status(state=auth_pb2.AUTH_STATE_CONNECTED)
        (job,) = await wait_jobs(stub, 1)
        assert job.attempts == 1
    assert error_records(caplog) == []


@pytest.mark.asyncio
async def test_exhausted_attempts_fail_with_a_reason_and_retry_job_recovers(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path, watch={"max_attempts": 2}) as env:
        await env.faults(pull_disconnect={"at_byte": 1000, "mode": "always"}, pull_strategy={"mode": "single"})
        stub = await start_watcher(env)
        sha = write_media(env.root / "a.mov", 50_000)
        job = await wait_job_state(stub, "a.mov", FAILED, timeout=30)
        assert job.attempts == 2
        assert "Frame.io could not fetch the file" in job.error and "gave up after 2 attempts" in job.error
        await env.clear_faults()
        retried = await stub.RetryJob(watcher_pb2.RetryJobRequest(id=job.id))
        assert retried.state == common_pb2.JOB_STATE_QUEUED and retried.attempts == 0
        (done,) = await wait_jobs(stub, 1)
        assert done.id == job.id
        files = await env.files()
        assert [(f["sha256"], f["upload_complete"]) for f in files] == [(sha, True)]  # failed pulls deleted
    assert error_records(caplog) == []


@pytest.mark.asyncio
async def test_a_file_removed_before_delivery_cancels_its_job(tmp_path):
    async with environment(tmp_path) as env:
        env.streamer.hold_publish = hold = asyncio.Event()
        stub = await start_watcher(env)
        path = env.root / "gone.mov"
        write_media(path, 5000)
        await wait_job_state(stub, "gone.mov", common_pb2.JOB_STATE_PREPARING)
        path.unlink()
        job = await wait_job_state(stub, "gone.mov", common_pb2.JOB_STATE_CANCELLED)
        assert "removed" in job.error
        hold.set()
        assert await env.files() == []
        assert len(await list_jobs(stub)) == 1


@pytest.mark.asyncio
async def test_an_unreachable_published_url_is_retried(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path) as env:
        env.streamer.unreachable = True
        stub = await start_watcher(env)
        sha = write_media(env.root / "a.mov", 5000)
        job = await wait_job_state(stub, "a.mov", WAITING)
        assert "could not read the published URL" in job.error
        env.streamer.unreachable = False
        await wait_jobs(stub, 1)
        assert [(f["sha256"], f["upload_complete"]) for f in await env.files()] == [(sha, True)]
    assert error_records(caplog) == []


@pytest.mark.asyncio
async def test_retrying_a_job_whose_file_changed_since_points_to_the_newer_job(tmp_path):
    async with environment(tmp_path, watch={"max_attempts": 1}) as env:
        await env.faults(pull_disconnect={"at_byte": 100, "mode": "always"}, pull_strategy={"mode": "single"})
        stub = await start_watcher(env)
        write_media(env.root / "a.mov", 5000, seed=1)
        old = await wait_job_state(stub, "a.mov", FAILED)
        await env.clear_faults()
        write_media(env.root / "a.mov", 6000, seed=2)
        (new,) = await wait_jobs(stub, 1)
        await stub.RetryJob(watcher_pb2.RetryJobRequest(id=old.id))
        old = await wait_job_state(stub, "a.mov", common_pb2.JOB_STATE_CANCELLED)
        assert new.id in old.error and "changed" in old.error
        assert [f["size"] for f in await env.files()] == [6000]


@pytest.mark.asyncio
async def test_a_mirrored_folder_deleted_on_frameio_is_made_again(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path) as env:
        stub = await start_watcher(env)
        write_media(env.root / "SQ01/a.mov", 1000)
        (first,) = await wait_jobs(stub, 1)
        store = env.emulator_state.store  # the API has no folder deletion: remove it underneath
        for asset_id in [first.frameio_folder_id, first.frameio_file_id]:
            del store.assets[asset_id]
        write_media(env.root / "SQ01/b.mov", 2000)
        await wait_jobs(stub, 2)
        jobs = {j.path: j for j in await list_jobs(stub)}
        assert jobs["SQ01/b.mov"].frameio_folder_id != first.frameio_folder_id
        assert [(f["folder_path"], f["name"]) for f in await env.files()] == [("SQ01", "b.mov")]
    assert error_records(caplog) == []
