"""The re-login deadline where people see it: `/api/status` and the SSE `auth` event carry
`auth.reauth_deadline` (ISO 8601, null without a login) and `auth.reauth_soon`; the recent
events get one entry when the warning window opens; `postflow status` prints "reconnect by"."""

import io

import pytest

from postflow.cli import output
from postflow.core.protos import timestamp
from postflow.testing.polling import wait_for
from postflow.testing.sse_client import following
from postflow.v1 import auth_pb2

DEADLINE_S = 1797818220.0  # 2026-12-21 01:57 UTC
DEADLINE_ISO = "2026-12-21T01:57:00Z"
WARNING = "Frame.io login expires on 2026-12-21 01:57 UTC — reconnect before then"


@pytest.mark.asyncio
async def test_status_and_events_carry_the_deadline_and_warn_once(fakes, dashboard, http):
    await wait_for(lambda: dashboard.hub.services["auth"], message="hub follows auth")
    auth = (await http.get("/api/status")).json()["auth"]
    assert auth["state"] == "disconnected" and auth["reauth_deadline"] is None and auth["reauth_soon"] is False
    async with following(http) as view:
        await wait_for(lambda: view.of_type("snapshot"), message="snapshot")
        fakes.auth.set_status(state=auth_pb2.AUTH_STATE_CONNECTED, user_name="Ada",
                              reauth_deadline=timestamp(DEADLINE_S))
        await wait_for(lambda: view.of_type("auth") and view.of_type("auth")[-1].data["state"] == "connected",
                       message="connected event")
        assert view.of_type("auth")[-1].data["reauth_deadline"] == DEADLINE_ISO
        auth = (await http.get("/api/status")).json()["auth"]
        assert (auth["state"], auth["reauth_deadline"], auth["reauth_soon"]) == ("connected", DEADLINE_ISO, False)

        fakes.auth.set_status(reauth_soon=True)
        await wait_for(lambda: view.of_type("auth")[-1].data["reauth_soon"], message="soon event")
        fakes.auth.set_status(refresh_count=1)  # another change inside the window: no second entry
        await wait_for(lambda: dashboard.hub.auth["refresh_count"] == 1, message="refresh seen")
        entries = [(e["level"], e["message"]) for e in dashboard.hub.recent if "expires on" in e["message"]]
        assert entries == [("warning", WARNING)]
        assert WARNING in [event.data["message"] for event in view.of_type("log")]

    fakes.auth.set_status(state=auth_pb2.AUTH_STATE_RECONNECT_NEEDED, reauth_soon=False, message="login expired")
    await wait_for(lambda: dashboard.hub.auth["state"] == "reconnect_needed", message="reconnect needed")
    assert (await http.get("/api/status")).json()["auth"]["state"] == "reconnect_needed"


def printed_auth(auth: dict) -> str:
    out = io.StringIO()
    output.print_status({"services": {}, "auth": auth, "tunnel": None, "watch_root": None, "jobs": None}, out)
    return out.getvalue().strip()


def test_postflow_status_prints_reconnect_by_and_marks_it_when_soon():
    auth = {"state": "connected", "user": "Ada", "reauth_deadline": DEADLINE_ISO, "reauth_soon": False}
    assert printed_auth(auth) == "frame.io   connected as Ada, reconnect by 2026-12-21 01:57 UTC"
    assert printed_auth({**auth, "reauth_soon": True}) == \
        "frame.io   connected as Ada, ⚠ reconnect by 2026-12-21 01:57 UTC"
    assert printed_auth({**auth, "reauth_deadline": None}) == "frame.io   connected as Ada"  # server-to-server
    assert printed_auth({**auth, "state": "reconnect_needed", "reauth_deadline": None}) == \
        "frame.io   reconnect_needed as Ada"
