"""/events over real HTTP against the fakes: snapshot, live typed events, Last-Event-ID
resume, heartbeats, coalesced progress, and a slow client being dropped."""

import asyncio
import socket
import time

import httpx
import pytest

from postflow.testing.polling import wait_for
from postflow.testing.sse_client import View, follow, following, read_events
from postflow.v1 import common_pb2, streamer_pb2


@pytest.mark.asyncio
async def test_snapshot_then_live_typed_events(fakes, dashboard, http):
    early = fakes.watcher.add_job("SQ01/SH010/early.mov")
    await wait_for(lambda: early.id in dashboard.hub.jobs, message="hub knows the early job")
    async with following(http) as view:
        snapshot = (await wait_for(lambda: view.of_type("snapshot"), message="snapshot"))[0]
        assert [job["path"] for job in snapshot.data["jobs"]] == ["SQ01/SH010/early.mov"]
        assert snapshot.data["tunnel"]["url"] == "https://quiet-river.trycloudflare.com"
        assert snapshot.data["auth"]["state"] == "disconnected"
        assert snapshot.data["services"] == {"watcher": True, "streamer": True, "auth": True}

        job = fakes.watcher.add_job("late.mov")
        fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_UPLOADING)
        fakes.streamer.set_tunnel(state=streamer_pb2.TUNNEL_STATE_DOWN, restarts=1, message="cloudflared exited")
        fakes.auth.set_status(state=2, user_name="Ada")
        await wait_for(lambda: view.jobs.get(job.id, {}).get("state") == "uploading", message="uploading")
        await wait_for(lambda: view.of_type("tunnel") and view.of_type("auth"), message="tunnel and auth events")
        assert view.of_type("tunnel")[-1].data["state"] == "down"
        assert view.of_type("tunnel")[-1].data["restarts"] == 1
        assert view.of_type("auth")[-1].data["user"] == "Ada"
        logs = [event.data["message"] for event in view.of_type("log")]
        assert "late.mov: uploading" in logs
        ids = [event.id for event in view.events]
        assert all(ids) and len(set(ids)) == len(ids), "every event has its own id"


@pytest.mark.asyncio
async def test_resume_with_last_event_id_sends_only_missed_events(fakes, dashboard, http):
    first = fakes.watcher.add_job("a.mov")
    async with following(http) as view:
        await wait_for(lambda: first.id in view.jobs, message="first job seen")
    last_id = view.last_id
    missed = fakes.watcher.add_job("b.mov")
    await wait_for(lambda: missed.id in dashboard.hub.jobs, message="hub saw b.mov")
    async with following(http, last_event_id=last_id) as resumed:
        await wait_for(lambda: missed.id in resumed.jobs, message="missed job replayed")
        assert not resumed.of_type("snapshot"), "a resumable id gets a replay, not a snapshot"
        assert first.id not in resumed.jobs, "events before the id are not sent again"
    async with following(http, last_event_id="0123abcd-5") as fresh:
        await wait_for(lambda: fresh.of_type("snapshot"), message="unknown id gets a snapshot")
        assert set(fresh.jobs) == {first.id, missed.id}
    async with following(http, last_event_id=last_id.rsplit("-", 1)[0] + "-999999") as future:
        await wait_for(lambda: future.of_type("snapshot"), message="an id from the future gets a snapshot")


@pytest.mark.asyncio
async def test_heartbeat_pings_keep_arriving(fakes, dashboard, http):
    async with following(http) as view:
        pings = await wait_for(lambda: len(view.of_type("ping")) >= 2 and view.of_type("ping"), timeout=5,
                               message="two pings (ping_s=0.5)")
        assert all(ping.id is None for ping in pings), "pings do not move the resume point"


@pytest.mark.asyncio
async def test_progress_is_coalesced_to_four_per_second_per_job(fakes, dashboard, http):
    job = fakes.watcher.add_job("big.mov", size=1000)
    fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_UPLOADING)
    async with following(http) as view:
        await wait_for(lambda: view.jobs.get(job.id, {}).get("state") == "uploading", message="uploading")
        started = time.monotonic()
        for done in range(1, 401):
            fakes.watcher.progress(job.id, done * 2 // 1)
            if done % 40 == 0:
                await asyncio.sleep(0.1)  # a fast, steady producer: 400 updates in about 1 s
        elapsed = time.monotonic() - started
        await wait_for(lambda: view.jobs[job.id]["bytes_done"] == 800, message="the last value arrives")
        progress = [e for e in view.of_type("job") if e.data["id"] == job.id and e.data["state"] == "uploading"
                    and e.data["bytes_done"] > 0]
        assert len(progress) <= 4 * (elapsed + 0.25) + 1, (len(progress), elapsed)
        assert len(progress) >= 2, "progress still flows"


@pytest.mark.asyncio
async def test_job_state_changes_are_never_coalesced(fakes, dashboard, http):
    job = fakes.watcher.add_job("fast.mov")
    async with following(http) as view:
        await wait_for(lambda: job.id in view.jobs, message="job seen")
        for state in (common_pb2.JOB_STATE_PREPARING, common_pb2.JOB_STATE_UPLOADING, common_pb2.JOB_STATE_VERIFYING):
            fakes.watcher.update(job.id, state=state)
        fakes.watcher.finish(job.id)
        await wait_for(lambda: view.jobs[job.id]["state"] == "done", message="done")
        seen = [e.data["state"] for e in view.of_type("job") if e.data["id"] == job.id]
        assert seen[-4:] == ["preparing", "uploading", "verifying", "done"]
        assert view.jobs[job.id]["view_url"].startswith("https://next.frame.io/")


@pytest.mark.asyncio
async def test_slow_client_is_dropped_and_memory_released(fakes, dashboard, http):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", dashboard.http_port))
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # then never read
    try:
        await wait_for(lambda: dashboard.hub.fanout.clients == 1, message="slow client subscribed")
        async with following(http) as healthy:
            await wait_for(lambda: healthy.of_type("snapshot"), message="healthy client connected")
            padding = "x" * 4000
            jobs = [fakes.watcher.add_job(f"flood/{i:04d}-{padding}.mov") for i in range(1500)]
            await wait_for(lambda: dashboard.hub.fanout.dropped >= 1, timeout=20, message="slow client dropped")
            await wait_for(lambda: jobs[-1].id in healthy.jobs, timeout=20, message="healthy client keeps up")
            assert dashboard.hub.fanout.clients == 1, "only the healthy client is still subscribed"
    finally:
        sock.close()


@pytest.mark.asyncio
async def test_stopping_the_dashboard_ends_open_streams(fakes, dashboard, http):
    view = View()
    task = asyncio.create_task(follow(http, view))
    await wait_for(lambda: view.of_type("snapshot"), message="connected")
    started = time.monotonic()
    await dashboard.stop()
    await asyncio.wait_for(task, 5)  # the stream ended cleanly instead of hanging
    assert time.monotonic() - started < 3
    async with httpx.AsyncClient() as client:
        try:
            await client.get(f"http://127.0.0.1:{dashboard.http_port}/livez")
        except httpx.ConnectError:
            return
    raise AssertionError("the dashboard still answers after stop()")


@pytest.mark.asyncio
async def test_raw_stream_format(fakes, dashboard, http):
    async with http.stream("GET", "/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        first = await anext(read_events(response))
        assert first.type == "snapshot"
        assert first.id.startswith(dashboard.hub.fanout.epoch + "-")
