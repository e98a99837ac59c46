"""The 14-day lapse, shortened, with the real services against the strict emulator: IMS ends
the refresh token `refresh_token_ttl` after the login (refreshes do not extend it) and auth
knows the same lifetime. The warning comes first (status, recent events), then "reconnect
needed": jobs wait instead of failing, IMS is not asked again with the dead token, and a new
login delivers everything. Disconnect then revokes with HTTP Basic, the only client
authentication the emulator's revoke accepts from a web app."""

import time
from datetime import datetime

import httpx
import pytest

from postflow.cli.commands import gather_status
from postflow.cli.demo import connect_frameio
from postflow.core.clients import Clients
from postflow.core.config import load_config
from postflow.testing.dashboard import MB, csrf
from postflow.testing.emulator import issued_tokens
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.sse_client import following
from postflow.testing.stack import running_stack, service_logs

pytestmark = pytest.mark.slow

LIFETIME_S = 12
WARNING_S = 6


async def auth_of(http: httpx.AsyncClient) -> dict:
    return (await http.get("/api/status")).json()["auth"]


async def jobs_by_name(http: httpx.AsyncClient) -> dict[str, dict]:
    return {job["name"]: job for job in (await http.get("/api/jobs", params={"page_size": 500})).json()["jobs"]}


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.mark.asyncio
async def test_the_login_lapses_with_a_warning_first_and_jobs_wait_for_the_next_login(tmp_path):
    overrides = {"auth": {"refresh_token_lifetime_s": LIFETIME_S, "relogin_warning_s": WARNING_S}}
    async with running_stack(tmp_path, overrides=overrides, connect=False) as stack, \
            httpx.AsyncClient(base_url=stack.dashboard_url, timeout=10) as http:
        # Access tokens of 3 s: auth refreshes all through the login's life, and none of it extends it.
        await stack.fault({"refresh_token_ttl": LIFETIME_S, "access_token_ttl": 3})
        await http.get("/")  # the CSRF cookie, as the page sets it
        async with following(http) as view:
            await wait_for(lambda: view.of_type("snapshot"), message="snapshot")
            await connect_frameio(stack.dashboard_url)
            login_at = time.time()
            auth = await auth_of(http)
            assert auth["state"] == "connected" and not auth["reauth_soon"]
            assert seconds(auth["reauth_deadline"]) == pytest.approx(login_at + LIFETIME_S, abs=3)
            async with Clients(load_config(stack.config_path)) as clients:  # what `postflow status --json` prints
                printed = (await gather_status(load_config(stack.config_path), clients))["auth"]
            assert (printed["state"], printed["reauth_deadline"]) == ("connected", auth["reauth_deadline"])
            write_media(stack.watch_root / "before.mov", MB, seed=1)

            soon = await wait_for(lambda: _if(auth_of(http), lambda a: a["reauth_soon"]), timeout=LIFETIME_S,
                                  message="the warning window")
            assert soon["state"] == "connected" and soon["reauth_deadline"] == auth["reauth_deadline"]
            warning = await wait_for(lambda: [e.data for e in view.of_type("log") if "expires on" in
                                              e.data["message"]], message="the warning in recent events")
            assert warning[0]["level"] == "warning" and "reconnect before then" in warning[0]["message"]

            lapsed = await wait_for(lambda: _if(auth_of(http), lambda a: a["state"] == "reconnect_needed"),
                                    timeout=LIFETIME_S + 5, message="reconnect needed at the deadline")
            assert time.time() >= seconds(auth["reauth_deadline"]) - 0.5
            assert "login expired on" in lapsed["message"] and lapsed["reauth_deadline"] is None
            write_media(stack.watch_root / "after.mov", MB, seed=2)
            waiting = await wait_for(lambda: _if(jobs_by_name(http), lambda j: j.get("after.mov", {}).get(
                "state") == "waiting"), timeout=30, message="after.mov waiting for the reconnect")
            assert "reconnect" in waiting["after.mov"]["waiting_reason"].lower()
            assert not [job for job in waiting.values() if job["state"] == "failed"]

            await connect_frameio(stack.dashboard_url)
            relogged = await auth_of(http)
            assert seconds(relogged["reauth_deadline"]) > seconds(auth["reauth_deadline"])
            done = await wait_for(lambda: _if(jobs_by_name(http), lambda j: {n: x["state"] for n, x in j.items()}
                                              == {"before.mov": "done", "after.mov": "done"}),
                                  timeout=60, message="both files delivered")
            assert all(job["attempts"] >= 1 and not job["error"] for job in done.values())
        delivered = sorted(f["name"] for f in await stack.emulator_files())
        assert delivered == ["after.mov", "before.mov"]  # each once

        disconnected = (await http.post("/api/auth/disconnect", headers=csrf(http))).json()
        assert disconnected["state"] == "disconnected" and "could not confirm" not in disconnected["message"]
        tokens = await issued_tokens(stack.emulator_url)
        last_grant = tokens[-1]["grant_id"]
        assert {t["state"] for t in tokens if t["grant_id"] == last_grant} <= {"revoked", "expired"}
        assert any(t["state"] == "revoked" and t["kind"] == "refresh" for t in tokens if t["grant_id"] == last_grant)

    log = service_logs(stack)["auth"]
    assert log.count("Frame.io login expires on") == 1, "the warning is logged once"
    while_lapsed = log.split("Frame.io login expired on", 1)[1].split("Frame.io connected", 1)[0]
    assert "rejected by IMS" not in log and "refused by IMS" not in while_lapsed, "the dead token was not tried"


async def _if(value, accept):
    """`value` (awaited) when `accept(value)`, else None: a wait_for condition that keeps what it saw."""
    seen = await value
    return seen if accept(seen) else None
