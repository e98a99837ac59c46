"""The dashboard seen from outside: the CSRF header its REST API wants, and its page in
Debian's headless Chromium (Playwright drives it; it never downloads a browser) with what the
page's rows and totals show, and what they must show for a set of jobs."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from playwright.async_api import ConsoleMessage, Dialog, Page, async_playwright

from postflow.testing.processes import CHECKOUT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000
ARTIFACTS = CHECKOUT / "test-artifacts"  # screenshots
XSS_NAME = "<img src=x onerror=alert(1)>.mov"  # a file name that must stay text
ACCESS_TOKEN = "access-token-for-tests-0123456789"  # dashboard.access_token of the `protected` dashboard
MB = 1_000_000
JOB_TOTALS = ("jobs_by_state", "files_delivered", "bytes_delivered")
READ_PAGE = """() => ({
    rows: [...document.querySelectorAll('tr[data-job-id]')].map(r => ({id: r.dataset.jobId, state: r.dataset.state})),
    jobs: document.getElementById('totals-jobs').textContent,
    delivered: document.getElementById('totals-delivered').textContent,
})"""  # the rows and the totals, read at one instant


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    """The header a state-changing API call needs, from the cookie the page set."""
    return {"x-csrf-token": client.cookies["postflow_csrf"]}


@contextlib.asynccontextmanager
async def chromium_page(url: str) -> AsyncIterator[Page]:
    """A page of Debian's Chromium at `url`, recording dialogs (`page.dialogs`) and console
    errors (`page.console_errors`)."""
    if not await asyncio.to_thread(CHROMIUM.exists):
        raise AssertionError("Debian's chromium is missing: run `make chromium` (Playwright must not download one)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            dialogs: list[str] = []
            console_errors: list[str] = []
            page.dialogs = dialogs  # type: ignore[attr-defined]
            page.console_errors = console_errors  # type: ignore[attr-defined]

            async def on_dialog(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                await dialog.dismiss()

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    console_errors.append(message.text)

            page.on("dialog", on_dialog)
            page.on("console", on_console)
            await page.goto(url)
            yield page
        finally:
            await browser.close()


def row(job_id: str, state: str | None = None) -> str:
    """The selector of a job's row (in that state)."""
    return f'tr[data-job-id="{job_id}"]' + (f'[data-state="{state}"]' if state else "")


async def rows_done(page: Page, names: list[str]) -> bool:
    """Whether the row of every file name shows `done`."""
    states = await page.evaluate(
        """names => names.map(n => {
             const row = [...document.querySelectorAll('tr[data-job-id]')]
               .find(r => r.querySelector('.col-name')?.textContent === n);
             return row ? row.dataset.state : null; })""", names)
    return all(state == "done" for state in states)


def count(rows: list[dict]) -> dict:
    """What the totals must say about these rows."""
    done = [row for row in rows if row["state"] == "done"]
    return {"jobs_by_state": dict(Counter(row["state"] for row in rows)), "files_delivered": len(done),
            "bytes_delivered": sum(row["size"] for row in done)}


def shown_bytes(n: int) -> str:
    assert n < 100 * MB, "keep to sizes whose display is easy to predict"
    return f"{n / MB:.1f} MB" if n else "0 B"


def shown(totals: dict) -> dict:
    """What the totals panel shows for these totals, as `on_page` reads it back."""
    return {"jobs": {state: n for state, n in totals["jobs_by_state"].items() if n},
            "files": totals["files_delivered"], "bytes": shown_bytes(totals["bytes_delivered"])}


def on_page(seen: dict) -> dict:
    """The totals panel as READ_PAGE saw it."""
    parts = [] if seen["jobs"] == "none" else seen["jobs"].split(", ")
    files, _, size = seen["delivered"].partition(" files, ")
    return {"jobs": {state: int(n) for n, state in (part.split(" ", 1) for part in parts)}, "files": int(files),
            "bytes": size}


# A retry POSTed from the page's context as its own code would (CSRF header and all); its status.
FORCED_RETRY = """async (id) => {
  const csrf = decodeURIComponent(document.cookie.match(/(?:^|;\\s*)postflow_csrf=([^;]*)/)[1]);
  const response = await fetch(`/api/jobs/${encodeURIComponent(id)}/retry`,
                               { method: "POST", headers: { "x-csrf-token": csrf } });
  return response.status;
}"""
