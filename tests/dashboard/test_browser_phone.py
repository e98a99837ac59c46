"""The dashboard on a phone (390×844) in Chromium, against the fake services: the job list and
the analytics page never scroll sideways, with long names and errors in the rows; every action
(retry, cancel, connect, the filters, paging, the way to analytics and its controls) is on
screen and works. Screenshots are kept in test-artifacts/."""

import pytest

from postflow.core.protos import timestamp
from postflow.testing.dashboard import ARTIFACTS, chromium_page, row
from postflow.v1 import common_pb2, watcher_pb2

PHONE = {"width": 390, "height": 844}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= 390"
T0 = 1_767_225_600


async def reachable(page, selector: str) -> None:
    """`selector` shows, within the phone's width."""
    element = page.locator(selector)
    await element.scroll_into_view_if_needed()
    assert await element.is_visible(), selector
    box = await element.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)


def history() -> watcher_pb2.GetHistoryResponse:
    """A day with a delivery every hour and one failure, as GetHistory answers it."""
    buckets = [watcher_pb2.HistoryBucket(
        start=timestamp(T0 + hour * 3600),
        all=watcher_pb2.HistoryCounts(deliveries=hour % 5, bytes=(hour % 5) * 10**9, failures=int(hour == 7),
                                      median_s=30.0 + hour, p95_s=90.0 + hour)) for hour in range(24)]
    cause = watcher_pb2.FailureCause(
        cause="Frame.io could not read the published URL", pipeline="features", count=1, last_at=timestamp(T0),
        example="Frame.io could not read the published URL (HTTP 403 from https://tunnel.example/t/" + "x" * 80 + ")")
    total = watcher_pb2.HistoryCounts(deliveries=sum(b.all.deliveries for b in buckets),
                                      bytes=sum(b.all.bytes for b in buckets), failures=1, median_s=42.0, p95_s=101.0)
    return watcher_pb2.GetHistoryResponse(buckets=buckets, all=total, failure_causes=[cause])


@pytest.mark.asyncio
async def test_on_a_phone_nothing_scrolls_sideways_and_every_action_is_reachable(fakes, dashboard):
    fakes.watcher.set_pipeline("features")
    for index in range(55):
        fakes.watcher.add_job(f"FEATURES/SQ{index:02d}/a_rather_long_shot_name_{index:03d}_comp_grade_v012.mov",
                              pipeline="features")
    moving = fakes.watcher.add_job("FEATURES/SQ99/SH0990/SQ99_SH0990_comp_v001.mov", size=400_000_000)
    fakes.watcher.update(moving.id, state=common_pb2.JOB_STATE_UPLOADING, attempts=1)
    fakes.watcher.progress(moving.id, 100_000_000, rate_bps=25e6, connections=4)
    failed = fakes.watcher.add_job("FEATURES/" + "VeryLongFolderNameWithoutSpaces" * 3 + "/x.mov")
    fakes.watcher.update(failed.id, state=common_pb2.JOB_STATE_FAILED, attempts=5,
                         error="Frame.io could not read the published URL (https://tunnel.example/t/" + "y" * 90 + ")")
    fakes.watcher.history = history()
    ARTIFACTS.mkdir(exist_ok=True)

    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await page.set_viewport_size(PHONE)
        await page.wait_for_selector("#connection[data-state=live]")
        await page.wait_for_selector(row(failed.id, "failed"))
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "the job list scrolls sideways"
        for selector in (f"{row(failed.id)} .retry", f"{row(moving.id)} .cancel", "#auth-connect", "#filter-pipeline",
                         "#filter-state", "#filter-search", "#page-size", "#job-pager .page-next",
                         'nav.views a[href="/analytics"]'):
            await reachable(page, selector)
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(ARTIFACTS / "phone.png"))
        await page.evaluate("document.getElementById('jobs-title').scrollIntoView()")
        await page.screenshot(path=str(ARTIFACTS / "phone-jobs.png"))

        await page.click(f"{row(failed.id)} .retry")
        await page.wait_for_selector(row(failed.id, "queued"))
        await page.click(f"{row(moving.id)} .cancel")
        await page.wait_for_selector(row(moving.id, "cancelled"))
        await page.click("#job-pager .page-next")
        await page.wait_for_function(
            "() => document.querySelector('#job-pager .page-info').textContent === '51–57 of 57'")

        await page.click('nav.views a[href="/analytics"]')
        await page.wait_for_selector("#analytics[data-state=ready]")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "the analytics page scrolls sideways"
        for selector in ("#range", "#bucket", "#pipeline", "#refresh", "#chart-latency canvas", ".cause-example",
                         'nav.views a[href="/"]'):
            await reachable(page, selector)
        assert await page.text_content("#sum-delivered") == "46 files, 46.0 GB"
        await page.screenshot(path=str(ARTIFACTS / "phone-analytics.png"), full_page=True)
        assert page.console_errors == []
