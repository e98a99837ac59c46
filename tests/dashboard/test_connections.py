"""Several Frame.io connections on the dashboard: `/api/status` and the snapshot list each
(name, state, user, account, re-login deadline), `auth` events name their connection (and say
"removed" when auth's config dropped one), the OAuth routes and Disconnect act on the
connection they name (the default one when they name none), and the page (Chromium) shows,
connects and disconnects each, unnamed when the default connection is alone."""

import pytest

from postflow.core.protos import timestamp
from postflow.testing.dashboard import chromium_page, csrf
from postflow.testing.polling import wait_for
from postflow.testing.sse_client import following
from postflow.v1 import auth_pb2

DEADLINE_S = 1797818220.0  # 2026-12-21 01:57 UTC


def shown(status: dict) -> list[tuple[str, str]]:
    return [(view["connection"], view["state"]) for view in status["connections"]]


@pytest.mark.asyncio
async def test_status_and_events_show_each_connection(fakes, dashboard, http):
    fakes.auth.add_connection("b")
    await wait_for(lambda: "b" in dashboard.hub.connections, message="b seen")
    status = (await http.get("/api/status")).json()
    assert shown(status) == [("default", "disconnected"), ("b", "disconnected")]
    assert status["auth"]["connection"] == "default"  # the shape of before, for the default connection
    async with following(http) as view:
        await wait_for(lambda: view.of_type("snapshot"), message="snapshot")
        snapshot = view.of_type("snapshot")[0].data
        assert shown(snapshot) == [("default", "disconnected"), ("b", "disconnected")]
        fakes.auth.set_status("b", state=auth_pb2.AUTH_STATE_CONNECTED, user_name="Bea", account_id="acc-b",
                              reauth_deadline=timestamp(DEADLINE_S))
        await wait_for(lambda: [e.data for e in view.of_type("auth") if e.data["state"] == "connected"],
                       message="b connected event")
        event = [e.data for e in view.of_type("auth") if e.data["state"] == "connected"][0]
        assert (event["connection"], event["user"], event["account_id"]) == ("b", "Bea", "acc-b")
        assert event["reauth_deadline"] == "2026-12-21T01:57:00Z"
        assert (await http.get("/api/status")).json()["auth"]["state"] == "disconnected"  # default untouched
        assert "Frame.io (b) connected as Bea" in [e["message"] for e in dashboard.hub.recent]

        fakes.auth.remove_connection("b")
        await wait_for(lambda: [e.data for e in view.of_type("auth") if e.data["state"] == "removed"],
                       message="removed event")
        assert [e.data for e in view.of_type("auth") if e.data["state"] == "removed"] == \
            [{"connection": "b", "state": "removed"}]
    assert shown((await http.get("/api/status")).json()) == [("default", "disconnected")]
    assert "Frame.io (b) removed from the config" in [e["message"] for e in dashboard.hub.recent]


@pytest.mark.asyncio
async def test_a_reconnected_hub_forgets_connections_auth_no_longer_has(fakes, dashboard, http):
    fakes.auth.add_connection("b")
    await wait_for(lambda: "b" in dashboard.hub.connections, message="b seen")
    await fakes.stop("auth")
    await wait_for(lambda: not dashboard.hub.services["auth"], message="auth down")
    del fakes.auth.statuses["b"]  # dropped while the dashboard could not hear it
    await fakes.start("auth")
    await wait_for(lambda: dashboard.hub.services["auth"], timeout=20, message="auth back")
    await wait_for(lambda: list(dashboard.hub.connections) == ["default"], message="b forgotten")


@pytest.mark.asyncio
async def test_login_and_disconnect_act_on_the_connection_named(fakes, dashboard, http):
    fakes.auth.add_connection("b")
    start = await http.get("/auth/login", params={"connection": "b"})
    assert start.status_code == 303
    (pending,) = fakes.auth.pending.values()
    assert pending.connection == "b"
    done = await http.get(start.headers["location"])  # the callback names no connection: the state does
    assert done.status_code == 303
    assert fakes.auth.statuses["b"].state == auth_pb2.AUTH_STATE_CONNECTED
    assert fakes.auth.status.state == auth_pb2.AUTH_STATE_DISCONNECTED
    await wait_for(lambda: dashboard.hub.connections["b"]["state"] == "connected", message="shown")

    response = await http.post("/api/auth/disconnect", params={"connection": "b"}, headers=csrf(http))
    assert response.status_code == 200
    assert (response.json()["connection"], response.json()["state"]) == ("b", "disconnected")
    unknown = await http.post("/api/auth/disconnect", params={"connection": "nope"}, headers=csrf(http))
    assert unknown.status_code == 404 and "known: default, b" in unknown.json()["error"]
    refused = await http.get("/auth/login", params={"connection": "nope"})
    assert refused.status_code == 400 and "&#x27;nope&#x27;: unknown" in refused.text


@pytest.mark.asyncio
async def test_the_page_shows_connects_and_disconnects_each_connection(fakes, dashboard):
    b = '[data-connection="b"]'
    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await page.wait_for_selector("#auth-state[data-state=disconnected]")
        assert await page.is_hidden('[data-connection="default"] .connection-name')  # alone: unnamed, as before
        fakes.auth.add_connection("b")
        await page.wait_for_selector(f'{b} [data-field="state"][data-state="disconnected"]')
        assert await page.text_content(f"{b} .connection-name") == "b"
        assert await page.is_visible('[data-connection="default"] .connection-name')
        assert await page.get_attribute(f'{b} [data-field="connect"]', "href") == "/auth/login?connection=b"

        await page.click(f'{b} [data-field="connect"]')  # → the fake IdP approves at once → /auth/callback → /
        await page.wait_for_selector(f'{b} [data-field="state"][data-state="connected"]')
        assert await page.text_content(f'{b} [data-field="user"]') == "Ada Editor <ada@example.com>"
        assert await page.text_content("#auth-state") == "disconnected"
        fakes.auth.set_status("b", account_id="acc-b", reauth_deadline=timestamp(DEADLINE_S))
        await page.wait_for_selector(f'{b} [data-field="reauth"]', state="visible")
        assert await page.text_content(f'{b} [data-field="account"]') == "acc-b"
        assert await page.is_hidden("#auth-reauth")

        await page.click(f'{b} [data-field="disconnect"]')
        await page.wait_for_selector(f'{b} [data-field="state"][data-state="disconnected"]')
        assert fakes.auth.statuses["b"].state == auth_pb2.AUTH_STATE_DISCONNECTED
        fakes.auth.set_status("b", state=auth_pb2.AUTH_STATE_RECONNECT_NEEDED, message="refresh token revoked")
        await page.wait_for_selector("#reconnect-banner", state="visible")
        assert "b: refresh token revoked" in await page.text_content("#reconnect-banner")
        assert await page.get_attribute("#reconnect-link", "href") == "/auth/login?connection=b"

        fakes.auth.remove_connection("b")
        await page.wait_for_selector(b, state="detached")
        assert await page.is_hidden("#reconnect-banner")
        assert await page.is_hidden('[data-connection="default"] .connection-name')
        assert page.console_errors == []
