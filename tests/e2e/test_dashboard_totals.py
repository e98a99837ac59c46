"""With the real services: N files are delivered, and the moment the page shows every row
done, the dashboard's totals count exactly those rows, on the page and in the REST API
(/api/status against /api/jobs). Totals travel on the job stream with the rows, so they
cannot lag behind them."""

import httpx
import pytest

from postflow.testing.dashboard import JOB_TOTALS, MB, READ_PAGE, chromium_page, count, on_page, rows_done, shown
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow

FILES = 4


@pytest.mark.asyncio
async def test_totals_equal_the_rows_once_n_files_are_delivered(tmp_path):
    async with running_stack(tmp_path) as stack:
        async with chromium_page(stack.dashboard_url + "/") as page:
            await page.wait_for_selector("#connection[data-state=live]")
            names = [f"SH{index:03d}.mov" for index in range(FILES)]
            for index, name in enumerate(names):
                write_media(stack.watch_root / "SQ01" / name, (index + 1) * MB, seed=index)
            await wait_for(lambda: rows_done(page, names), timeout=120, interval=0.2, message="every row done")
            seen = await page.evaluate(READ_PAGE)  # rows and totals read at one instant
            async with httpx.AsyncClient(base_url=stack.dashboard_url, timeout=10) as http:
                status = (await http.get("/api/status")).json()
                listed = (await http.get("/api/jobs", params={"page_size": 500})).json()["jobs"]

    sizes = {job["id"]: job["size"] for job in listed}
    rows = [{"state": row["state"], "size": sizes[row["id"]]} for row in seen["rows"]]
    expected = {"jobs_by_state": {"done": FILES}, "files_delivered": FILES,
                "bytes_delivered": sum((index + 1) * MB for index in range(FILES))}
    assert count(rows) == count(listed) == expected
    assert on_page(seen) == shown(expected), seen
    assert {key: status["totals"][key] for key in JOB_TOTALS} == expected, status["totals"]
