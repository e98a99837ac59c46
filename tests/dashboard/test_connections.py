"""Several Frame.io connections on the dashboard: `/api/status` and the snapshot list each
(name, state, user, account, re-login deadline), `auth` events name their connection (and say
"removed" when auth's config dropped one), and the OAuth routes and Disconnect act on the
connection they name, the default one when they name none."""

import pytest

from postflow.core.protos import timestamp
from postflow.testing.dashboard import csrf
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
async def test_the_page_has_a_block_for_the_default_connection_that_keeps_its_ids(http):
    page = (await http.get("/")).text
    assert 'id="frameio-connections"' in page and 'data-connection="default"' in page
    for field in ("auth-state", "auth-user", "auth-account", "auth-reauth", "auth-connect", "auth-disconnect"):
        assert f'id="{field}"' in page
    script = await http.get("/static/frameio.js")
    assert script.status_code == 200 and "export class ConnectionPanel" in script.text
