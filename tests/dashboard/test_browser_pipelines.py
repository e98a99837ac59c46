"""The page's pipeline filter, name search and paging in Debian's headless Chromium, against
2,100 jobs in three pipelines in the fake watcher: only the chosen pipeline's rows show, with
its count; pages go forward and back; a search narrows the list; live events reach the rows on
the page and announce new jobs; and the browser never holds or asks for more than one page."""

from urllib.parse import parse_qs, urlsplit

import pytest

from postflow.testing.dashboard import ARTIFACTS, chromium_page, row
from postflow.testing.polling import wait_for
from postflow.v1 import common_pb2

PIPELINES = ("features", "promos", "dailies")
JOBS = 2_100  # 700 in each pipeline
PAGE = 50  # the page's default page size
READ_ROWS = """() => [...document.querySelectorAll('#job-rows tr[data-job-id]')].map(r => ({
    id: r.dataset.jobId, pipeline: r.dataset.pipeline, state: r.dataset.state,
    name: r.querySelector('.col-name').textContent}))"""
JOB_REQUESTS = """() => performance.getEntriesByType('resource').map(e => e.name)
    .filter(n => n.includes('/api/jobs?'))"""  # every list request the page made, from its first


async def pager_says(page, text: str) -> None:
    await page.wait_for_function("text => document.querySelector('#job-pager .page-info').textContent === text",
                                 arg=text)


async def rows(page, at_most: int = PAGE) -> list[dict]:
    shown = await page.evaluate(READ_ROWS)
    assert len(shown) <= at_most, f"{len(shown)} rows in the page: more than one page"
    return shown


async def turn(page, button: str, text: str) -> list[dict]:
    await page.click(f"#job-pager .{button}")
    await pager_says(page, text)
    return await rows(page)


@pytest.mark.asyncio
async def test_pipeline_filter_search_and_paging_through_thousands_of_jobs(fakes, dashboard):
    for name in PIPELINES:
        fakes.watcher.set_pipeline(name)
    for index in range(JOBS):
        name = PIPELINES[index % len(PIPELINES)]
        fakes.watcher.add_job(f"{name.upper()}/SH{index:04d}/shot_{index:04d}.mov", pipeline=name)
    fakes.watcher.add_unrouted("dailies", "notes/readme.txt", reason="no rule matches notes/readme.txt")

    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await page.wait_for_selector("#connection[data-state=live]")
        await pager_says(page, f"1–{PAGE} of {JOBS}")
        everything = await rows(page)
        assert len(everything) == PAGE and {r["pipeline"] for r in everything} == set(PIPELINES)
        assert everything[0]["name"] == f"shot_{JOBS - 1:04d}.mov", "newest first"
        await page.wait_for_selector('#filter-pipeline option[value="promos"]', state="attached")
        assert await page.text_content('#filter-pipeline option[value="promos"]') == "promos (700)"
        assert await page.text_content('#filter-pipeline option[value=""]') == f"All pipelines ({JOBS})"
        await page.wait_for_selector('#unrouted tr[data-pipeline="dailies"]')
        assert "no rule matches notes/readme.txt" in await page.text_content("#unrouted-rows")

        await page.select_option("#filter-pipeline", "promos")
        await pager_says(page, f"1–{PAGE} of 700")
        first = await rows(page)
        assert len(first) == PAGE and {r["pipeline"] for r in first} == {"promos"}
        second = await turn(page, "page-next", f"{PAGE + 1}–{2 * PAGE} of 700")
        assert {r["pipeline"] for r in second} == {"promos"}
        assert not {r["id"] for r in first} & {r["id"] for r in second}
        third = await turn(page, "page-next", f"{2 * PAGE + 1}–{3 * PAGE} of 700")
        assert not {r["id"] for r in third} & {r["id"] for r in first + second}
        assert await turn(page, "page-prev", f"{PAGE + 1}–{2 * PAGE} of 700") == second
        await page.wait_for_selector("#job-pager .page-prev:not([disabled])")

        # On a later page a new job is announced, not loaded; the rows on the page stay live.
        fakes.watcher.update(second[0]["id"], state=common_pb2.JOB_STATE_FAILED, error="refused")
        await page.wait_for_selector(row(second[0]["id"], "failed"))
        new = fakes.watcher.add_job("PROMOS/SH9999/shot_new.mov", pipeline="promos")
        fakes.watcher.add_job("FEATURES/SH9998/other_new.mov", pipeline="features")  # another pipeline: not counted
        await page.wait_for_selector("#new-jobs:not([hidden])")
        assert await page.text_content("#new-jobs .hint-text") == "1 new job"
        assert await page.locator(row(new.id)).count() == 0
        await page.click("#new-jobs button")
        await pager_says(page, f"1–{PAGE} of 701")
        assert (await rows(page))[0]["id"] == new.id and await page.is_hidden("#new-jobs")

        # On the first page, a new job of the pipeline shows by itself.
        newer = fakes.watcher.add_job("PROMOS/SH9999/shot_newer.mov", pipeline="promos")
        await page.wait_for_selector(row(newer.id, "queued"))
        await pager_says(page, f"1–{PAGE} of 702")

        await page.fill("#filter-search", "SHOT_01")  # shot_0100 … shot_0199 of promos: every third
        await pager_says(page, "1–34 of 34")
        found = await rows(page)
        assert len(found) == 34 and all(r["name"].startswith("shot_01") and r["pipeline"] == "promos" for r in found)
        assert await page.is_disabled("#job-pager .page-next")

        await page.fill("#filter-search", "")
        await page.select_option("#page-size", "25")
        await pager_says(page, "1–25 of 702")
        assert len(await rows(page, at_most=25)) == 25
        await page.select_option("#filter-pipeline", "")
        await pager_says(page, f"1–25 of {JOBS + 3}")

        requests = await page.evaluate(JOB_REQUESTS)
        sizes = [int(parse_qs(urlsplit(url).query)["page_size"][0]) for url in requests]
        assert sizes and max(sizes) <= PAGE, "one page at a time"
        assert len(requests) < 20, f"{len(requests)} requests: the list was walked, not paged"

        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-pipelines.png"))
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone: the controls wrap
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scroll"
        box = await page.locator("#job-filters").bounding_box()
        assert box and box["x"] + box["width"] <= 390
        await page.locator("#job-filters").scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "dashboard-pipelines-phone.png"))
        assert page.console_errors == []


@pytest.mark.asyncio
async def test_with_no_unrouted_file_the_section_stays_hidden(fakes, dashboard):
    fakes.watcher.add_job("A001/clip.mov")
    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await pager_says(page, "1–1 of 1")
        await page.wait_for_selector('#filter-pipeline option[value="default"]', state="attached")
        assert await page.is_hidden("#unrouted")
        fakes.watcher.add_unrouted("default", "A001/clip.txt", reason="no rule matches A001/clip.txt")
        fakes.watcher.add_job("A001/clip2.mov")  # jobs change: the pipelines are asked again
        await page.wait_for_selector("#unrouted", state="visible", timeout=10_000)
        await wait_for(lambda: page.text_content("#unrouted-count"), message="unrouted count")
        assert await page.text_content("#unrouted-count") == "(1)"
