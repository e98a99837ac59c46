"""The REST API and probes against the fakes: shapes, filters, paging, JSON errors."""

import httpx
import pytest

from postflow.testing.dashboard import csrf
from postflow.testing.polling import wait_for
from postflow.v1 import common_pb2
from services.dashboard.api import INTERACTIVE_TIMEOUT_S


@pytest.mark.asyncio
async def test_status_reports_auth_tunnel_totals_and_reachability(fakes, dashboard, http):
    await wait_for(lambda: all(dashboard.hub.services.values()), message="hub connected")
    status = (await http.get("/api/status")).json()
    assert status["services"] == {"watcher": True, "streamer": True, "auth": True}
    assert status["auth"]["state"] == "disconnected"
    assert status["tunnel"] == {"mode": "quick", "state": "up", "url": "https://quiet-river.trycloudflare.com",
                                "restarts": 0, "message": "", "since": status["tunnel"]["since"],
                                "bandwidth_limit_bps": 0, "bandwidth_schedule": ""}
    assert status["totals"]["watch_root"] == "/media/OUT"


@pytest.mark.asyncio
async def test_jobs_filter_and_paging(fakes, dashboard, http):
    for n in range(5):
        fakes.watcher.add_job(f"SQ01/shot{n}.mov")
    done = fakes.watcher.finish(fakes.watcher.add_job("SQ02/final.mov").id)
    page = (await http.get("/api/jobs", params={"page_size": 2, "path_prefix": "SQ01/"})).json()
    assert [job["name"] for job in page["jobs"]] == ["shot4.mov", "shot3.mov"], "newest first"
    assert page["total"] == 5 and page["next_page_token"]
    rest = (await http.get("/api/jobs", params={"page_size": 10, "path_prefix": "SQ01/",
                                                "page_token": page["next_page_token"]})).json()
    assert [job["name"] for job in rest["jobs"]] == ["shot2.mov", "shot1.mov", "shot0.mov"]
    assert rest["next_page_token"] == ""
    finished = (await http.get("/api/jobs", params={"state": "done,failed"})).json()
    assert [job["id"] for job in finished["jobs"]] == [done.id]
    assert finished["jobs"][0]["folder"] == "SQ02" and finished["jobs"][0]["view_url"]
    single = (await http.get(f"/api/jobs/{done.id}")).json()
    assert single["state"] == "done" and single["trace_id"] == done.trace_id


@pytest.mark.asyncio
async def test_errors_are_json_with_mapped_status_codes(fakes, dashboard, http):
    bad_state = await http.get("/api/jobs", params={"state": "exploded"})
    assert bad_state.status_code == 400 and "state" in bad_state.json()["error"]
    bad_size = await http.get("/api/jobs", params={"page_size": "9999"})
    assert bad_size.status_code == 400 and "page_size" in bad_size.json()["error"]
    bad_token = await http.get("/api/jobs", params={"page_token": "nope"})
    assert bad_token.status_code == 400, "INVALID_ARGUMENT from the watcher"
    missing = await http.get("/api/jobs/does-not-exist")
    assert missing.status_code == 404 and missing.json() == {"error": "no job does-not-exist"}
    queued = fakes.watcher.add_job("busy.mov")
    conflict = await http.post(f"/api/jobs/{queued.id}/retry", headers=csrf(http))
    assert conflict.status_code == 409 and "not failed" in conflict.json()["error"]
    unknown = await http.get("/api/nothing-here")
    assert unknown.status_code == 404 and "error" in unknown.json()


@pytest.mark.asyncio
async def test_retry_and_cancel(fakes, dashboard, http):
    job = fakes.watcher.add_job("again.mov")
    cancelled = await http.post(f"/api/jobs/{job.id}/cancel", headers=csrf(http))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    retried = await http.post(f"/api/jobs/{job.id}/retry", headers=csrf(http))
    assert retried.status_code == 200 and retried.json()["state"] == "queued"
    assert fakes.watcher.jobs[job.id].state == common_pb2.JOB_STATE_QUEUED


@pytest.mark.asyncio
async def test_unreachable_watcher_is_503_and_not_ready(fakes, dashboard, http):
    assert (await http.get("/readyz")).status_code == 200
    await fakes.stop("watcher")
    response = await http.get("/api/jobs")
    assert response.status_code == 503 and response.json()["error"]
    assert response.elapsed.total_seconds() < INTERACTIVE_TIMEOUT_S + 2, "a person is waiting: no long hang"
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["services"] == {"auth": "SERVING", "watcher": "UNREACHABLE", "streamer": "SERVING"}
    assert (await http.get("/livez")).json() == {"status": "ok"}
    assert (await http.get("/api/status")).status_code == 200, "status still answers from the hub's state"
    await wait_for(lambda: not dashboard.hub.services["watcher"], message="hub saw the outage")
    assert (await http.get("/api/status")).json()["services"]["watcher"] is False


@pytest.mark.asyncio
async def test_livez_readyz_and_page_need_no_login(fakes, dashboard):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{dashboard.http_port}") as fresh:
        page = await fresh.get("/")
        assert page.status_code == 200 and 'src="/static/app.js"' in page.text
        assert page.headers["cache-control"] == "no-cache"
        script = await fresh.get("/static/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert (await fresh.get("/livez")).status_code == 200
