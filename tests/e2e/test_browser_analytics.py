"""The analytics page in Chromium with the real services: files delivered through the watcher to
the emulator in two pipelines, and the page's charts drawn from them (deliveries, bytes and the
time from stable to Frame.io per pipeline, as the ledger has them); the pipeline filter narrows
every chart."""

import json
import statistics
from datetime import datetime

import httpx
import pytest

from postflow.testing.dashboard import ARTIFACTS, chromium_page
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow

MB = 1_000_000
FILES = {"dailies": {"SQ01/day1_a.mov": 1 * MB, "SQ01/day1_b.mov": 2 * MB}, "finals": {"reel1.mov": 3 * MB}}
CHARTS = ("deliveries", "bytes", "latency", "failures")


def pipelines(root) -> dict:
    for name in FILES:
        (root / name).mkdir()
    return {"watch": {"root": ""}, "pipelines": [{"name": name, "root": str(root / name)} for name in FILES]}


async def chart(page, name: str) -> dict[str, list]:
    """The series a chart drew, by label (from its figure's data-series)."""
    drawn = json.loads(await page.get_attribute(f"#chart-{name}", "data-series"))
    return {series["label"]: series["values"] for series in drawn["series"]}


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.mark.asyncio
async def test_the_analytics_page_draws_its_charts_from_real_deliveries(tmp_path):
    async with running_stack(tmp_path, pipelines(tmp_path)) as stack:
        for index, (pipeline, files) in enumerate(FILES.items()):
            for path, size in files.items():
                write_media(tmp_path / pipeline / path, size, seed=index)
        async with httpx.AsyncClient(base_url=stack.dashboard_url, timeout=10) as http:
            async def delivered() -> list[dict] | None:
                jobs = (await http.get("/api/jobs")).json()["jobs"]
                return jobs if len(jobs) == 3 and all(job["state"] == "done" for job in jobs) else None

            jobs = await wait_for(delivered, timeout=60, interval=0.2, message="three files delivered")
        times_to_frameio = [seconds(job["updated_at"]) - seconds(job["created_at"]) for job in jobs]

        async with chromium_page(stack.dashboard_url + "/analytics") as page:
            await page.wait_for_selector("#analytics[data-state=ready]")
            for name in CHARTS:
                box = await page.locator(f"#chart-{name} canvas").first.bounding_box()
                assert box and box["width"] > 200 and box["height"] > 100, f"{name}: a chart is drawn"
            deliveries, sizes = await chart(page, "deliveries"), await chart(page, "bytes")
            assert {label: sum(values) for label, values in deliveries.items()} == {
                "All pipelines": 3, "dailies": 2, "finals": 1}
            assert {label: sum(values) for label, values in sizes.items()} == {
                "All pipelines": 6 * MB, "dailies": 3 * MB, "finals": 3 * MB}
            assert len(deliveries["All pipelines"]) == 24, "the last 24 hours, per hour"
            latency = await chart(page, "latency")
            busy = [index for index, count in enumerate(deliveries["All pipelines"]) if count]
            assert [index for index, value in enumerate(latency["median"]) if value is not None] == busy
            if len(busy) == 1:  # (two when the deliveries straddle an hour)
                median = latency["median"][busy[0]]
                assert median == pytest.approx(statistics.median(times_to_frameio), abs=0.5)
                assert latency["p95"][busy[0]] >= median
            assert sum(sum(values) for values in (await chart(page, "failures")).values()) == 0
            assert await page.text_content("#sum-delivered") == "3 files, 6.0 MB"
            assert await page.is_visible("#no-causes")

            await page.select_option("#pipeline", "finals")
            await page.wait_for_function("""() => document.querySelector('#analytics').dataset.state === 'ready'
                && document.querySelector('#sum-delivered').textContent === '1 file, 3.0 MB'""")
            assert {label: sum(values) for label, values in (await chart(page, "bytes")).items()} == {"finals": 3 * MB}
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "analytics.png"), full_page=True)
            assert page.console_errors == []
