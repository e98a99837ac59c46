"""50 SSE clients for about 60 s while 20 uploads progress to done: the dashboard (a real
`python -m services.dashboard` process against the in-test fakes) keeps its memory bounded,
drops no healthy client, and every client sees every job reach done. The fakes report
progress ten times a second per job, to hold the page's throttle to account; the same load
with real uploads through the whole stack is tests/e2e/test_dashboard_load.py."""

import asyncio
import json
import signal
import sys

import httpx
import pytest

from postflow.testing.mesh import MESH_OFF
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, process_rss_mb, process_rss_peak_mb
from postflow.testing.sse_client import View, follow
from postflow.v1 import common_pb2

pytestmark = pytest.mark.slow

CLIENTS = 50
JOBS = 20
JOB_SIZE = 2_000_000_000
START_EVERY_S = 2.0
UPLOAD_S = 20.0
PROGRESS_EVERY_S = 0.1  # 10 updates a second per job, far more than the page may get
PEAK_RSS_LIMIT_MB = 120  # about 60 MB measured
GROWTH_LIMIT_MB = 10  # about 1 MB measured


async def upload(fakes, index: int) -> str:
    await asyncio.sleep(index * START_EVERY_S)
    job = fakes.watcher.add_job(f"LOAD/SH{index:03d}/clip_{index:03d}.mov", size=JOB_SIZE)
    fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_UPLOADING, attempts=1)
    steps = int(UPLOAD_S / PROGRESS_EVERY_S)
    for step in range(1, steps + 1):
        await asyncio.sleep(PROGRESS_EVERY_S)
        fakes.watcher.progress(job.id, JOB_SIZE * step // steps, rate_bps=JOB_SIZE / UPLOAD_S)
    fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_VERIFYING)
    fakes.watcher.finish(job.id)
    return job.id


@pytest.mark.asyncio
async def test_fifty_clients_during_twenty_uploads(fakes, tmp_path):
    port = free_port()
    config = {"dashboard": {"listen": f"127.0.0.1:{port}"}, "state_dir": str(tmp_path / "state"), "mesh": MESH_OFF,
              "services": {name: f"127.0.0.1:{p}" for name, p in fakes.ports.items()}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.dashboard", "-c", str(tmp_path / "config.json"), env=child_env(),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=CLIENTS + 10)
    followers: list[asyncio.Task] = []
    try:
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
            async def status() -> dict | None:
                try:
                    return (await client.get("/api/status")).json()
                except httpx.HTTPError:
                    return None

            await wait_for(lambda: status_ok(status), timeout=30, message="dashboard up and connected")
            views = [View() for _ in range(CLIENTS)]
            followers = [asyncio.create_task(follow(client, view)) for view in views]
            await wait_for(lambda: all(view.of_type("snapshot") for view in views), timeout=20,
                           message="every client has its snapshot")
            baseline = process_rss_mb(process.pid)

            uploads = asyncio.gather(*(upload(fakes, index) for index in range(JOBS)))
            samples = []
            while not uploads.done():
                samples.append(process_rss_mb(process.pid))
                await asyncio.wait({uploads}, timeout=1.0)
            job_ids = set(uploads.result())

            def all_done() -> bool:
                return all(set(view.jobs) >= job_ids and all(view.jobs[j]["state"] == "done" for j in job_ids)
                           for view in views)

            await wait_for(all_done, timeout=20, message="every client saw every job reach done")
            final = await status()
            peak = process_rss_peak_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)

    assert process.returncode == 0, stderr.decode()[-2000:]
    assert final["clients"] == CLIENTS and final["dropped_clients"] == 0, "no healthy client was dropped"
    late = samples[len(samples) // 2:]
    assert peak < PEAK_RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    assert max(late) - baseline < GROWTH_LIMIT_MB, f"RSS grew from {baseline:.0f} to {max(late):.0f} MB"
    for view in views:
        progress = [e for e in view.of_type("job") if e.data["state"] == "uploading"]
        per_job_rate = len(progress) / JOBS / UPLOAD_S
        assert per_job_rate <= 4.5, f"{per_job_rate:.1f} progress events per job per second"


async def status_ok(status) -> bool:
    current = await status()
    return bool(current) and all(current["services"].values())
