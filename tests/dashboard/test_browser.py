"""The page in Debian's headless Chromium (Playwright drives it; it never downloads a
browser), against the fake services: live rows, Frame.io connect, XSS, restarts."""

import dataclasses

import pytest
import pytest_asyncio

from postflow.core.config import DashboardConfig
from postflow.core.protos import timestamp
from postflow.core.service import Runtime
from postflow.testing.dashboard import ARTIFACTS, XSS_NAME, chromium_page, row
from postflow.testing.polling import wait_for
from postflow.v1 import auth_pb2, common_pb2
from services.dashboard.server import build_service


@pytest_asyncio.fixture
async def page(dashboard):
    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await page.wait_for_selector("#connection[data-state=live]")
        await page.evaluate("window.loadedOnce = 'yes'")  # gone if the page ever reloads
        yield page


async def not_reloaded(page) -> bool:
    return await page.evaluate("window.loadedOnce") == "yes"


@pytest.mark.asyncio
async def test_connect_frameio_then_rows_reach_done_without_reload(fakes, dashboard, page):
    assert await page.text_content("#auth-state") == "disconnected"
    await page.click("#auth-connect")  # /auth/login → (fake IdP approves at once) → /auth/callback → /
    await page.wait_for_selector("#auth-state[data-state=connected]")
    assert await page.text_content("#auth-user") == "Ada Editor <ada@example.com>"
    assert await page.is_visible("#auth-disconnect")
    await page.wait_for_selector("#connection[data-state=live]")
    await page.evaluate("window.loadedOnce = 'yes'")

    jobs = [fakes.watcher.add_job(path, size=300_000_000) for path in
            ("SQ01/SH010/SQ01_SH010_v003.mov", "SQ01/SH020/SQ01_SH020_v001.mov", "A001_C002_v001.mov")]
    for job in jobs:
        await page.wait_for_selector(row(job.id, "queued"))
    for job in jobs:
        fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_UPLOADING, attempts=1)
        fakes.watcher.progress(job.id, 150_000_000, rate_bps=25e6, connections=3 if job is jobs[1] else 0)
    await page.wait_for_selector(row(jobs[0].id, "uploading"))
    await wait_for(lambda: page.evaluate(f"document.querySelector('{row(jobs[0].id)} progress').value === 0.5"),
                   message="progress bar at half")
    assert await page.text_content(f"{row(jobs[0].id)} .col-rate") == "25.0 MB/s"
    assert await page.text_content(f"{row(jobs[0].id)} .col-eta") == "6s"
    await wait_for(lambda: page.text_content(f"{row(jobs[1].id)} .col-rate"), message="second row's rate")
    assert await page.text_content(f"{row(jobs[1].id)} .col-rate") == "25.0 MB/s · 3 connections"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-uploading.png"), full_page=True)

    for job in jobs:
        fakes.watcher.finish(job.id)
    for job in jobs:
        await page.wait_for_selector(row(job.id, "done"))
    first = row(jobs[0].id)
    assert await page.text_content(f"{first} .col-name") == "SQ01_SH010_v003.mov"
    assert await page.text_content(f"{first} .col-folder") == "SQ01/SH010"
    href = await page.get_attribute(f"{first} .col-link a", "href")
    assert href == f"https://next.frame.io/project/p/view/{jobs[0].id}"
    assert await page.text_content(f"{first} .col-trace") == jobs[0].trace_id
    assert (await page.text_content("#totals-delivered")).startswith("3 files"), "totals count the rows shown"
    assert "SQ01_SH010_v003.mov: done" in await page.text_content("#events")
    assert await not_reloaded(page), "the page never reloaded"
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    await page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scroll"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    assert page.console_errors == []


@pytest.mark.asyncio
async def test_hostile_file_name_renders_as_text(fakes, dashboard, page):
    job = fakes.watcher.add_job(f"<b>SQ01</b>/{XSS_NAME}")
    await page.wait_for_selector(row(job.id))
    fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_FAILED, error=f"refused {XSS_NAME}",
                         view_url="javascript:alert(2)")
    await page.wait_for_selector(row(job.id, "failed"))
    assert await page.text_content(f"{row(job.id)} .col-name") == XSS_NAME
    assert await page.text_content(f"{row(job.id)} .col-folder") == "<b>SQ01</b>"
    assert await page.text_content(f"{row(job.id)} .col-error") == f"refused {XSS_NAME}"
    assert await page.locator("#jobs img, #jobs b, #events img").count() == 0, "no markup was created from data"
    assert await page.locator(f"{row(job.id)} .col-link a").count() == 0, "a javascript: URL is never a link"
    assert XSS_NAME in await page.text_content("#events")
    assert page.dialogs == []
    assert await page.is_visible(f"{row(job.id)} button.retry")
    await page.click(f"{row(job.id)} button.retry")  # a CSRF-protected POST from the page
    await page.wait_for_selector(row(job.id, "queued"))


@pytest.mark.asyncio
async def test_the_streamer_bandwidth_limit_shows_with_its_timetable(fakes, page):
    async def shown(text: str) -> None:
        async def showing() -> bool:
            return await page.text_content("#tunnel-bwlimit") == text
        await wait_for(showing, message=f"bandwidth {text!r} shown")

    await shown("—")  # a streamer that does not say
    fakes.streamer.set_tunnel(bandwidth_limit_bps=20 * 1024**2, bandwidth_schedule="08:00,20M 19:00,off")
    await shown("20 MiB/s (08:00,20M 19:00,off)")
    fakes.streamer.set_tunnel(bandwidth_limit_bps=0)  # from 19:00
    await shown("off (08:00,20M 19:00,off)")
    fakes.streamer.set_tunnel(bandwidth_limit_bps=1536 * 1024, bandwidth_schedule="1.5M")
    await shown("1.5 MiB/s")


@pytest.mark.asyncio
async def test_page_recovers_from_dashboard_and_watcher_restarts(fakes, dashboard, page):
    port = dashboard.http_port
    job = fakes.watcher.add_job("before/restart.mov")
    await page.wait_for_selector(row(job.id, "queued"))

    await dashboard.stop()
    await page.wait_for_selector("#connection[data-state=reconnecting]")
    assert "reconnecting" in await page.text_content("#connection")
    fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_UPLOADING)
    restarted = build_service(Runtime(fakes.config), http_address=f"127.0.0.1:{port}", ping_s=0.5)
    await restarted.start()
    try:
        await page.wait_for_selector("#connection[data-state=live]", timeout=20_000)
        await page.wait_for_selector(row(job.id, "uploading"))

        await fakes.stop("watcher")
        await page.wait_for_selector('#services [data-service=watcher][data-up="false"]')
        fakes.watcher.finish(job.id)  # happens while the dashboard cannot see the watcher
        other = fakes.watcher.add_job("during/outage.mov")
        await fakes.start("watcher")
        await page.wait_for_selector('#services [data-service=watcher][data-up="true"]', timeout=20_000)
        await page.wait_for_selector(row(job.id, "done"))
        await page.wait_for_selector(row(other.id, "queued"))
        assert fakes.watcher.watch_requests[-1] > 0, "the hub resumed by sequence number"

        fakes.auth.set_status(state=auth_pb2.AUTH_STATE_RECONNECT_NEEDED, message="refresh token revoked")
        await page.wait_for_selector("#reconnect-banner:not([hidden])")
        assert "refresh token revoked" in await page.text_content("#reconnect-banner")
        assert await not_reloaded(page), "recovered without a reload"
    finally:
        await restarted.stop()


@pytest.mark.asyncio
async def test_login_form_when_an_access_token_is_set(fakes):
    config = dataclasses.replace(fakes.config, dashboard=DashboardConfig(access_token="browser-test-token-0123"))
    service = build_service(Runtime(config), http_address="127.0.0.1:0")
    await service.start()
    try:
        async with chromium_page(f"http://127.0.0.1:{service.http_port}/") as page:
            await page.wait_for_selector("#login-form")
            assert not await page.is_visible("#dashboard")
            await page.fill("#login-token", "wrong")
            await page.click("#login-form button")
            await wait_for(lambda: page.text_content("#login-error"), message="login error shown")
            assert await page.text_content("#login-error") == "wrong access token"
            await page.fill("#login-token", "browser-test-token-0123")
            await page.click("#login-form button")
            await page.wait_for_selector("#connection[data-state=live]")
            assert not await page.is_visible("#login")
            cookies = {c["name"]: c for c in await page.context.cookies()}
            assert cookies["postflow_session"]["httpOnly"]
            assert await page.evaluate("document.cookie.includes('postflow_session')") is False
    finally:
        await service.stop()


@pytest.mark.asyncio
async def test_the_page_shows_the_relogin_deadline_and_highlights_it_when_soon(fakes, page):
    assert await page.is_hidden("#auth-reauth")
    fakes.auth.set_status(state=auth_pb2.AUTH_STATE_CONNECTED, user_name="Ada",
                          reauth_deadline=timestamp(1797818220.0))
    await page.wait_for_selector("#auth-reauth[data-soon=false]", state="visible")
    assert (await page.text_content("#auth-reauth")).startswith("reconnect by ")
    fakes.auth.set_status(reauth_soon=True)
    await page.wait_for_selector("#auth-reauth[data-soon=true]", state="visible")
    assert (await page.text_content("#auth-reauth")).startswith("⚠ reconnect by ")
    fakes.auth.set_status(state=auth_pb2.AUTH_STATE_RECONNECT_NEEDED, message="login expired")
    await page.wait_for_selector("#reconnect-banner", state="visible")
    assert await page.is_hidden("#auth-reauth")
