"""The mesh certificates' expiry on the dashboard: `/api/status` and the SSE snapshot carry a
`certificates` entry read from the public files in mesh.certs_dir, the hub follows a
rotation, and the page shows a banner while one expires within 30 days."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from postflow.core.clients import Clients
from postflow.core.config import MeshConfig
from postflow.core.mesh.certs import CertPaths, ensure_certs, issue
from postflow.core.mesh.identity import IDENTITIES
from postflow.core.service import Runtime
from postflow.testing.dashboard import chromium_page
from postflow.testing.polling import wait_for
from postflow.testing.sse_client import following
from services.dashboard.hub import Hub
from services.dashboard.server import DashboardService, build_service


def expiring_soon(paths: CertPaths, identity: str) -> None:
    """`identity` re-issued so that it has 9 whole days left."""
    issue(paths, identity, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=100), days=110)


@pytest.fixture
def certs(tmp_path):
    paths = CertPaths(tmp_path / "certs")
    ensure_certs(paths)
    expiring_soon(paths, "watcher")
    for identity in IDENTITIES:  # the dashboard reads the others' public files only (its own key it calls with)
        if identity != "dashboard":
            paths.key(identity).unlink()
    paths.ca_key.unlink()
    return paths


@contextlib.asynccontextmanager
async def dashboard_with(fakes, mesh: MeshConfig) -> AsyncIterator[DashboardService]:
    service = build_service(Runtime(dataclasses.replace(fakes.config, mesh=mesh)), http_address="127.0.0.1:0",
                            ping_s=0.5)
    try:
        await service.start()
        yield service
    finally:
        await service.stop()


@pytest_asyncio.fixture
async def secured_dashboard(fakes, certs):
    async with dashboard_with(fakes, MeshConfig(certs_dir=str(certs.dir))) as service:
        yield service


@pytest.mark.asyncio
async def test_status_and_snapshot_carry_each_certificate(secured_dashboard):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{secured_dashboard.http_port}", timeout=10) as http:
        await wait_for(lambda: secured_dashboard.hub.certificates, message="certificates read")
        entries = {entry["identity"]: entry for entry in (await http.get("/api/status")).json()["certificates"]}
        assert set(entries) == {"ca", *IDENTITIES}
        assert (entries["watcher"]["state"], entries["watcher"]["days_left"]) == ("expiring", 9)
        assert {entry["state"] for name, entry in entries.items() if name != "watcher"} == {"ok"}
        assert set(entries["watcher"]) == {"identity", "state", "not_after", "days_left", "fingerprint",
                                           "issued_by_ca", "problem"}
        async with following(http) as view:
            await wait_for(lambda: view.of_type("snapshot"), message="snapshot")
            assert view.of_type("snapshot")[0].data["certificates"] == list(entries.values())


@pytest.mark.asyncio
async def test_the_hub_follows_a_rotation_and_warns_once(fakes, tmp_path):
    paths = CertPaths(tmp_path / "certs")
    ensure_certs(paths)
    expiring_soon(paths, "auth")
    async with Clients(fakes.config) as clients:
        hub = Hub(clients, certs=paths, certs_poll_s=0.05)
        await hub.start()
        try:
            await wait_for(lambda: hub.certificates, message="certificates read")
            assert [entry["identity"] for entry in hub.certificates if entry["state"] != "ok"] == ["auth"]
            issue(paths, "auth")
            await wait_for(lambda: all(entry["state"] == "ok" for entry in hub.certificates),
                           message="the rotation seen")
            paths.cert("streamer").unlink()
            await wait_for(lambda: any(entry["state"] == "missing" for entry in hub.certificates),
                           message="the missing certificate seen")
        finally:
            await hub.stop()
    warnings = [entry["message"] for entry in hub.recent if "certificates" in entry["message"]]
    assert warnings == ["mesh certificates need attention: auth (`postflow certs show`)",
                        "mesh certificates need attention: streamer (`postflow certs show`)"]


@pytest.mark.asyncio
async def test_the_page_shows_a_banner_while_a_certificate_expires_soon(fakes, certs):
    certs.cert("streamer").unlink()  # missing, with its (long) path
    async with dashboard_with(fakes, MeshConfig(certs_dir=str(certs.dir))) as service, \
            chromium_page(f"http://127.0.0.1:{service.http_port}/") as page:
        await page.wait_for_selector("#certs-banner", state="visible")
        problem = await page.text_content("#certs-problem")
        assert problem.startswith("watcher expires ")
        assert problem.endswith(f"(in 9 days); streamer missing: {certs.cert('streamer')} missing")
        assert "postflow certs rotate" in await page.text_content("#certs-banner")
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scroll"
        assert page.console_errors == []


@pytest.mark.asyncio
async def test_no_banner_when_every_certificate_is_fine_or_mtls_is_off(fakes, tmp_path):
    paths = CertPaths(tmp_path / "certs")
    ensure_certs(paths)
    for mesh in (MeshConfig(certs_dir=str(paths.dir)), MeshConfig(mtls=False, certs_dir=str(tmp_path / "none"))):
        async with dashboard_with(fakes, mesh) as service:
            async with chromium_page(f"http://127.0.0.1:{service.http_port}/") as page:
                await page.wait_for_selector("#connection[data-state=live]")
                assert await page.is_hidden("#certs-banner")
            assert (service.hub.certificates is None) is not mesh.mtls
