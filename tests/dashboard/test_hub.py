"""The hub against the fake services over real gRPC: state, typed events, restarts."""

import contextlib

import pytest

from postflow.core.clients import Clients
from postflow.testing.fakes import FakeWatcher
from postflow.testing.polling import wait_for
from postflow.v1 import auth_pb2, common_pb2, streamer_pb2
from services.dashboard.hub import Hub


@contextlib.asynccontextmanager
async def running_hub(fakes, **options):
    async with Clients(fakes.config) as clients:
        hub = Hub(clients, backoff=(0.1, 0.5), **options)
        await hub.start()
        try:
            await wait_for(lambda: all(hub.services.values()), message="hub connected to all three")
            yield hub
        finally:
            await hub.stop()


def messages(hub) -> list[str]:
    return [entry["message"] for entry in hub.recent]


@pytest.mark.asyncio
async def test_hub_folds_the_three_services_into_one_state(fakes):
    job = fakes.watcher.add_job("SQ01/a.mov")
    async with running_hub(fakes) as hub:
        await wait_for(lambda: job.id in hub.jobs, message="snapshot job")
        assert hub.tunnel["state"] == "up" and hub.tunnel["mode"] == "quick"
        assert hub.auth["state"] == "disconnected"
        await wait_for(lambda: hub.totals and hub.totals["files_seen"] == 1, message="totals")

        fakes.watcher.finish(job.id)
        fakes.auth.set_status(state=auth_pb2.AUTH_STATE_RECONNECT_NEEDED, message="invalid_grant")
        fakes.streamer.set_tunnel(public_url="https://new-url.trycloudflare.com", restarts=2)
        await wait_for(lambda: hub.jobs[job.id]["state"] == "done", message="done")
        await wait_for(lambda: hub.totals["files_delivered"] == 1, message="totals refreshed after the change")
        await wait_for(lambda: hub.auth["state"] == "reconnect_needed", message="auth state")
        await wait_for(lambda: hub.tunnel["restarts"] == 2, message="tunnel restarts")
        log = messages(hub)
        assert "SQ01/a.mov: done" in log
        assert "Frame.io needs reconnecting: invalid_grant" in log
        assert "tunnel (quick) up https://new-url.trycloudflare.com" in log
        levels = {entry["message"]: entry["level"] for entry in hub.recent}
        assert levels["Frame.io needs reconnecting: invalid_grant"] == "error"


@pytest.mark.asyncio
async def test_byte_progress_comes_from_the_job_and_only_the_tunnel_from_the_streamer(fakes):
    job = fakes.watcher.add_job("pull.mov", size=100)
    async with running_hub(fakes) as hub:
        await wait_for(lambda: job.id in hub.jobs, message="job known")
        since = f"{hub.fanout.epoch}-{hub.fanout.seq}"
        for phase, done in ((streamer_pb2.TRANSFER_PHASE_ACTIVE, 30), (streamer_pb2.TRANSFER_PHASE_COMPLETE, 100)):
            fakes.streamer.transfer(ticket_id="t1", job_id=job.id, path="pull.mov", phase=phase, size=100,
                                    kind=streamer_pb2.TRANSFER_KIND_PULL, bytes_done=done, active_connections=3)
        fakes.streamer.set_tunnel(restarts=1)  # after the transfers on the same ordered stream
        fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_UPLOADING)
        fakes.watcher.progress(job.id, 60, rate_bps=10, connections=2)
        await wait_for(lambda: hub.tunnel["restarts"] == 1, message="tunnel change")
        await wait_for(lambda: hub.jobs[job.id]["bytes_done"] == 60, message="job progress")
        assert hub.jobs[job.id]["connections"] == 2 and hub.jobs[job.id]["rate_bps"] == 10
        with hub.fanout.subscribe(since, hub.snapshot) as (_, published):
            pass
        assert sorted(e.type for e in published if e.type != "log") == ["job", "job", "totals", "tunnel"]
        progress = [e for e in published if e.type == "job"][-1]
        assert b'"bytes_done":60,' in progress.frame and b'"connections":2,' in progress.frame
        assert "transfers" not in hub.snapshot()
        assert [m for m in messages(hub) if "pull.mov" in m] == ["pull.mov: uploading"], "transfers not logged"


@pytest.mark.asyncio
async def test_watcher_restart_is_followed_by_a_resume_from_the_last_sequence(fakes):
    job = fakes.watcher.add_job("restart.mov")
    async with running_hub(fakes) as hub:
        await wait_for(lambda: job.id in hub.jobs, message="job known")
        resumed_from = fakes.watcher.seq
        await fakes.stop("watcher")
        await wait_for(lambda: not hub.services["watcher"], message="watcher seen as down")
        fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_UPLOADING)
        fakes.watcher.finish(job.id)
        await fakes.start("watcher")
        await wait_for(lambda: hub.services["watcher"], timeout=15, message="watcher reconnected")
        await wait_for(lambda: hub.jobs[job.id]["state"] == "done", message="missed events replayed")
        assert fakes.watcher.watch_requests[-1] == resumed_from
        log = messages(hub)
        assert any(m.startswith("watcher unreachable") for m in log)
        assert "restart.mov: done" in log


@pytest.mark.asyncio
async def test_a_watcher_that_lost_its_history_sends_a_snapshot_that_replaces_the_jobs(fakes):
    gone = fakes.watcher.add_job("gone.mov")
    fakes.watcher.update(gone.id, state=common_pb2.JOB_STATE_UPLOADING)
    async with running_hub(fakes) as hub:
        await wait_for(lambda: gone.id in hub.jobs, message="job known")
        with hub.fanout.subscribe("", hub.snapshot) as (subscriber, _):
            await fakes.stop("watcher")
            fakes.watcher = FakeWatcher()  # a fresh ledger: sequence numbers start again
            kept = fakes.watcher.add_job("kept.mov")
            await fakes.start("watcher")
            await wait_for(lambda: set(hub.jobs) == {kept.id}, timeout=15, message="jobs replaced by the snapshot")
            while (event := await subscriber.get()) is not None and event.type != "snapshot":
                pass
        assert event is not None and b"kept.mov" in event.frame and b"gone.mov" not in event.frame


@pytest.mark.asyncio
async def test_live_job_view_is_bounded_and_keeps_unfinished_jobs(fakes):
    async with running_hub(fakes, max_jobs=5) as hub:
        active = fakes.watcher.add_job("active.mov")
        finished = [fakes.watcher.finish(fakes.watcher.add_job(f"old-{n}.mov").id) for n in range(8)]
        await wait_for(lambda: finished[-1].id in hub.jobs and hub.jobs[finished[-1].id]["state"] == "done",
                       message="all events seen")
        assert len(hub.jobs) == 5
        assert active.id in hub.jobs, "unfinished jobs are never evicted before finished ones"
        assert finished[0].id not in hub.jobs


@pytest.mark.asyncio
async def test_an_unavailable_watch_root_is_shown_and_logged_until_it_comes_back(fakes):
    async with running_hub(fakes) as hub:
        await wait_for(lambda: hub.totals and hub.totals["watch_root"] == "/media/OUT", message="scan info")
        assert hub.totals["watch_root_available"]
        fakes.watcher.watch_root_problem = "Transport endpoint is not connected"
        await wait_for(lambda: not hub.totals["watch_root_available"], timeout=15, message="root unavailable")
        assert hub.totals["watch_root_problem"] == "Transport endpoint is not connected"
        fakes.watcher.watch_root_problem = ""
        await wait_for(lambda: hub.totals["watch_root_available"], timeout=15, message="root available again")
        log = messages(hub)
        assert log.index("watch root /media/OUT unavailable: Transport endpoint is not connected") < log.index(
            "watch root /media/OUT available again")
