"""The dashboard under load on the real stack: 50 SSE clients on the dashboard for about 60 s
while 20 real uploads go through watcher, streamer and the emulator (its puller capped so
that each takes seconds). The dashboard's memory stays bounded, no client is dropped, and
every client sees every job reach done."""

import asyncio

import httpx
import pytest

from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.processes import process_rss_mb, process_rss_peak_mb
from postflow.testing.sse_client import View, follow
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow

CLIENTS = 50
FILES = 20
FILE_SIZE = 3 * 1024 * 1024
PULL_BYTES_PER_S = 512 * 1024  # about 6 s per file
DROP_EVERY_S = 2.8  # the last file lands after about 53 s
PEAK_RSS_LIMIT_MB = 120  # about 60 MB measured
GROWTH_LIMIT_MB = 10  # under 1 MB measured


async def drop_files(stack) -> set[str]:
    """Renders landing one by one (written aside, then moved in, as a render farm does)."""
    names = set()
    staging = stack.root / "renders"
    for index in range(FILES):
        name = f"clip_{index:03d}.mov"
        write_media(staging / name, FILE_SIZE, seed=700 + index)
        (staging / name).rename(stack.watch_root / name)
        names.add(name)
        await asyncio.sleep(DROP_EVERY_S)  # the pace of arrivals under test, not a synchronisation
    return names


@pytest.mark.asyncio
async def test_fifty_clients_during_twenty_real_uploads(tmp_path):
    async with running_stack(tmp_path) as stack:
        await stack.fault({"pull_bytes_per_s": PULL_BYTES_PER_S})
        dashboard = stack.pid("dashboard")
        limits = httpx.Limits(max_connections=CLIENTS + 10)
        async with httpx.AsyncClient(base_url=stack.dashboard_url, limits=limits, timeout=10) as client:
            views = [View() for _ in range(CLIENTS)]
            followers = [asyncio.create_task(follow(client, view)) for view in views]
            try:
                await wait_for(lambda: all(view.of_type("snapshot") for view in views), timeout=30,
                               message="every client has its snapshot")
                baseline = process_rss_mb(dashboard)
                dropping = asyncio.create_task(drop_files(stack))
                samples = []
                while not dropping.done():
                    samples.append(process_rss_mb(dashboard))
                    await asyncio.wait({dropping}, timeout=1.0)
                names = dropping.result()

                def seen_done(view: View) -> bool:
                    done = {job["path"] for job in view.jobs.values() if job["state"] == "done"}
                    return done >= names

                await wait_for(lambda: all(seen_done(view) for view in views), timeout=90,
                               message="every client saw every job reach done")
                status = (await client.get("/api/status")).json()
                peak = process_rss_peak_mb(dashboard)
            finally:
                for task in followers:
                    task.cancel()
                await asyncio.gather(*followers, return_exceptions=True)
        files = {f["name"]: f for f in await stack.emulator_files()}
        assert stack.pid("dashboard") == dashboard, "the dashboard was not restarted under load"

    assert status["clients"] == CLIENTS and status["dropped_clients"] == 0, status
    assert peak < PEAK_RSS_LIMIT_MB, f"dashboard peak RSS {peak:.0f} MB"
    late = samples[len(samples) // 2:]
    assert max(late) - baseline < GROWTH_LIMIT_MB, f"dashboard RSS grew from {baseline:.0f} to {max(late):.0f} MB"
    assert {name for name, f in files.items() if f.get("upload_complete")} >= names
    assert all(files[name]["size"] == FILE_SIZE for name in names)
    for view in views:
        uploading = [e for e in view.of_type("job") if e.data["state"] == "uploading"]
        assert uploading, "clients saw the uploads in progress, not only their end"
