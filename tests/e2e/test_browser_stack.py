"""The dashboard with the real services: in Chromium, connect Frame.io through the emulator, drop
files, watch rows reach `done` without a reload; kill -9 the dashboard and the watcher while
the page is open and see it recover on its own; a hostile file name stays text."""

import pytest

from postflow.testing.dashboard import ARTIFACTS, XSS_NAME, chromium_page, rows_done
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow


@pytest.mark.asyncio
async def test_full_stack_in_the_browser(tmp_path):
    async with running_stack(tmp_path, connect=False) as stack:
        async with chromium_page(stack.dashboard_url + "/") as page:
            await page.wait_for_selector("#connection[data-state=live]")
            await page.evaluate("window.loadedOnce = 'yes'")
            assert await page.get_attribute("#auth-state", "data-state") != "connected"
            await page.click("#auth-connect")  # dashboard → emulator IMS → /auth/callback → page
            await page.wait_for_selector("#auth-state[data-state=connected]")
            await page.wait_for_selector("#connection[data-state=live]")
            await page.evaluate("window.loadedOnce = 'yes'")  # the OAuth round trip was a navigation

            names = ["A001.mov", XSS_NAME, "plate é.mov"]
            for index, name in enumerate(names):
                write_media(stack.watch_root / "SQ01" / name, 2 * 1024 * 1024 + index, seed=index)
            await wait_for(lambda: rows_done(page, names), timeout=90, interval=0.3, message="rows done")
            assert await page.locator("table img").count() == 0, "the hostile name was not parsed as HTML"
            assert page.dialogs == []

            await page.evaluate("""() => {
                window.connectionStates = [];
                const el = document.querySelector('#connection');
                new MutationObserver(() => window.connectionStates.push(el.dataset.state))
                  .observe(el, {attributes: true, attributeFilter: ['data-state']});
            }""")
            old = await stack.kill("dashboard")
            await stack.wait_restarted("dashboard", old)
            await wait_for(lambda: page.evaluate("window.connectionStates.at(-1) === 'live'"), timeout=30,
                           message="page live again")
            seen = await page.evaluate("window.connectionStates")
            assert {"reconnecting", "connecting"} & set(seen), seen  # it noticed, then recovered

            old = await stack.kill("watcher")
            await stack.wait_restarted("watcher", old)
            write_media(stack.watch_root / "after-restart.mov", 1024 * 1024, seed=7)
            await wait_for(lambda: rows_done(page, [*names, "after-restart.mov"]), timeout=90, interval=0.3,
                           message="row after the restarts done")
            assert await page.evaluate("window.loadedOnce") == "yes", "the page never reloaded"
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "full-stack.png"), full_page=True)
        files = [f for f in await stack.emulator_files() if f.get("upload_complete")]
        assert sorted(f["name"] for f in files) == sorted([*names, "after-restart.mov"])
