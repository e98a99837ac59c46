"""kill -9 of the watcher process in every job state: after a restart nothing is lost and
nothing is uploaded twice (as the emulator saw it)."""

import asyncio
import time

import pytest

from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.watcher import WatcherProcess, environment, list_jobs, wait_jobs
from postflow.v1 import common_pb2, watcher_pb2

pytestmark = pytest.mark.slow

S = common_pb2
SHOW_FILE = "/v4/accounts/*/files/????????-????-????-????-????????????"


async def hold_publish(env):
    env.streamer.hold_publish = asyncio.Event()


async def slow_pull(env):
    env.streamer.serve_bytes_per_s = 200_000


async def slow_show_file(env):
    await env.faults(rate_limit_burst={"count": 10_000, "path": SHOW_FILE, "retry_after": 1})


async def failing_creation(env):
    await env.faults(server_error={"status": 503, "path": "*/files/remote_upload", "count": 10_000})


async def nothing(env):
    pass


async def in_state(stub, state):
    return next((j for j in await list_jobs(stub) if j.state == state), None)


CASES = {
    # state to kill in: (how to hold a job there, watch settings)
    "queued": (S.JOB_STATE_QUEUED, hold_publish, {"max_concurrent": 1}),
    "preparing": (S.JOB_STATE_PREPARING, hold_publish, {}),
    "uploading": (S.JOB_STATE_UPLOADING, slow_pull, {}),
    "verifying": (S.JOB_STATE_VERIFYING, slow_show_file, {}),
    "waiting": (S.JOB_STATE_WAITING, failing_creation, {"backoff_base_s": 1.5, "backoff_max_s": 1.5}),
    "done": (S.JOB_STATE_DONE, nothing, {}),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(CASES))
async def test_kill_9_in_every_state_loses_nothing_and_uploads_nothing_twice(tmp_path, case):
    state, hold, watch = CASES[case]
    async with environment(tmp_path, watch=watch) as env:
        await hold(env)
        expected = {"SQ01/SH010/a.mov": write_media(env.root / "SQ01/SH010/a.mov", 600_000, seed=1),
                    "SQ01/SH020/b.mov": write_media(env.root / "SQ01/SH020/b.mov", 500_000, seed=2)}
        first = WatcherProcess(env, tmp_path / "watcher-1.log")
        env.watchers.append(first)
        await first.start()
        before = await wait_for(lambda: in_state(first.stub, state), timeout=30, message=case)
        await first.kill9()

        if env.streamer.hold_publish is not None:
            env.streamer.hold_publish.set()
        env.streamer.serve_bytes_per_s = None
        await env.clear_faults()
        restarted_at = time.time()
        second = WatcherProcess(env, tmp_path / "watcher-2.log")
        env.watchers.append(second)
        await second.start()
        jobs = await wait_jobs(second.stub, len(expected), timeout=40)
        after = next(j for j in jobs if j.path == before.path)
        assert after.id == before.id and after.trace_id == before.trace_id
        if case == "done":
            async def rescanned():
                stats = await second.stub.GetStats(watcher_pb2.GetStatsRequest(), wait_for_ready=True)
                return stats.last_scan_at.ToSeconds() > restarted_at + 1.5  # well past stable_after_s
            await wait_for(rescanned, timeout=20)
        assert len(await list_jobs(second.stub)) == len(expected)
        report = await env.emulator_report()
        delivered = sorted((f"{f['folder_path']}/{f['name']}", f["sha256"], f["upload_complete"])
                           for f in report["files"])
        assert delivered == sorted((path, sha, True) for path, sha in expected.items())
        assert not [f["name"] for f in report["deleted"] if f["upload_complete"]], \
            "a complete upload was made again and the first deleted"
        errors = [line for line in second.log_lines() if " ERROR " in line]
        assert errors == []
