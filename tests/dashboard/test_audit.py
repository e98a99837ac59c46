"""The dashboard's audit view: `GET /api/audit` (signed-in admins only) merges every service's
audit log and the CLI's; the page's Audit panel shows it, newest first."""

import pytest
import pytest_asyncio

from postflow.core.mesh.audit import AuditEntry, record_cli_action
from postflow.testing.dashboard import ACCESS_TOKEN as TOKEN
from postflow.testing.dashboard import XSS_NAME, chromium_page
from postflow.testing.fakes import FakeServices

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest_asyncio.fixture
async def fakes(tmp_path):
    """The fakes, each serving its audit log from the state dir (overrides conftest's `fakes`)."""
    async with FakeServices(state_dir=tmp_path / "state").serving() as services:
        yield services


def audited(fakes: FakeServices, service: str, at: float, action: str, what: str, outcome: str = "ok") -> None:
    fakes.servers[service].audit.record(AuditEntry(at=at, who="dashboard", action=action, what=what,
                                                   outcome=outcome, service=service, peer="127.0.0.1:40000"))




@pytest.mark.asyncio
async def test_the_audit_api_needs_the_login_and_merges_every_service(fakes, protected):
    audited(fakes, "watcher", T0 + 2, "CancelJob", "job-7")
    audited(fakes, "auth", T0 + 1, "GetAccessToken", "", "denied")
    audited(fakes, "streamer", T0 + 3, "Publish", "SQ01/a.mov")
    record_cli_action(fakes.config, "certs rotate", "watcher")
    assert (await protected.get("/api/audit")).status_code == 401
    assert (await protected.get("/api/audit", headers={"authorization": "Bearer wrong"})).status_code == 401

    bearer = {"authorization": f"Bearer {TOKEN}"}
    answer = (await protected.get("/api/audit", headers=bearer)).json()
    assert [(e["service"], e["action"], e["outcome"]) for e in answer["entries"]] == [
        ("auth", "GetAccessToken", "denied"), ("watcher", "CancelJob", "ok"), ("streamer", "Publish", "ok"),
        ("cli", "certs rotate", "ok")]
    assert answer["entries"][0]["at"] == "2023-11-14T22:13:21+00:00" and answer["unavailable"] == {}
    newest = (await protected.get("/api/audit", params={"limit": "2"}, headers=bearer)).json()["entries"]
    assert [e["action"] for e in newest] == ["Publish", "certs rotate"]

    await fakes.stop("streamer")
    answer = (await protected.get("/api/audit", params={"since": "2023-11-14T22:13:22Z"}, headers=bearer)).json()
    assert [e["action"] for e in answer["entries"]] == ["CancelJob", "certs rotate"]
    assert list(answer["unavailable"]) == ["streamer"]


@pytest.mark.asyncio
async def test_bad_audit_parameters_are_named(fakes, protected):
    bearer = {"authorization": f"Bearer {TOKEN}"}
    for params, named in (({"since": "soon"}, "since"), ({"limit": "many"}, "limit"), ({"limit": "5000"}, "limit")):
        response = await protected.get("/api/audit", params=params, headers=bearer)
        assert response.status_code == 400 and response.json()["error"].startswith(f"{named}:"), response.text


@pytest.mark.asyncio
async def test_the_audit_panel_shows_the_entries_newest_first(fakes, dashboard):
    audited(fakes, "watcher", T0, "SubmitFile", XSS_NAME)
    audited(fakes, "auth", T0 + 1, "Disconnect", "", "denied")
    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await page.wait_for_selector("#audit-rows tr:nth-child(2)")
        rows = await page.eval_on_selector_all(
            "#audit-rows tr", "rows => rows.map(r => [...r.cells].slice(1).map(c => c.textContent))")
        assert rows == [["auth", "dashboard", "Disconnect", "—", "denied"],
                        ["watcher", "dashboard", "SubmitFile", XSS_NAME, "ok"]]  # the name stays text
        assert await page.is_hidden("#no-audit")
        audited(fakes, "watcher", T0 + 2, "CancelJob", "job-9")
        await page.click("#audit-refresh")
        await page.wait_for_selector("#audit-rows tr:nth-child(3)")
        assert await page.text_content("#audit-rows tr:first-child .audit-action") == "CancelJob"
        assert page.dialogs == [] and page.console_errors == []
