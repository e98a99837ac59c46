"""The job row says who asked for its last change ("retried by …"), under its state, on a desk
and on a phone (390 px, nothing scrolls sideways), and only when a person is known."""

import pytest

from postflow.testing.dashboard import ARTIFACTS, chromium_page, row
from postflow.v1 import common_pb2

LONG_ADDRESS = "alexandra.konstantinopoulou-vandermeer@post-production.studio.example"


@pytest.mark.asyncio
async def test_the_row_shows_who_retried_it_on_a_desk_and_on_a_phone(fakes, dashboard):
    retried = fakes.watcher.add_job("SQ01/SH010_comp_v003.mov")
    fakes.watcher.update(retried.id, acted="retried", acted_by=LONG_ADDRESS)
    by_script = fakes.watcher.add_job("SQ01/SH020_comp_v001.mov")
    fakes.watcher.update(by_script.id, state=common_pb2.JOB_STATE_CANCELLED, acted="cancelled")
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await page.wait_for_selector(row(by_script.id, "cancelled"))
        acted = page.locator(f"{row(retried.id)} .col-state .acted")
        assert await acted.text_content() == f"retried by {LONG_ADDRESS}"
        assert await page.locator(f"{row(by_script.id)} .acted").count() == 0  # nobody known: nothing said
        await page.set_viewport_size({"width": 390, "height": 844})
        await acted.scroll_into_view_if_needed()
        box = await acted.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert await page.evaluate("document.documentElement.scrollWidth <= 390"), "the job list scrolls sideways"
        await page.screenshot(path=str(ARTIFACTS / "phone-acted.png"))
        assert page.console_errors == []
