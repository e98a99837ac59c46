"""Access token, session cookie, bearer header, CSRF, host check, security headers, and the
OAuth redirect endpoints (login bound to the browser by a cookie)."""

import asyncio
import dataclasses
import hashlib
import json
import sys

import httpx
import pytest

from postflow.core.config import ConfigError, DashboardConfig
from postflow.core.service import Runtime
from postflow.testing.dashboard import ACCESS_TOKEN as TOKEN
from postflow.testing.dashboard import csrf
from postflow.testing.processes import child_env
from services.dashboard.server import build_service


def test_non_loopback_listen_needs_an_access_token(fakes):
    for address in ("0.0.0.0:0", "192.0.2.10:8000", "dashboard:8000"):
        with pytest.raises(ConfigError, match=r"^dashboard\.access_token: required"):
            build_service(Runtime(fakes.config), http_address=address)
    config = dataclasses.replace(fakes.config, dashboard=DashboardConfig(listen="0.0.0.0:8000", access_token=TOKEN))
    assert build_service(Runtime(config)).access.required
    for address in ("127.0.0.1:0", "localhost:0", "[::1]:0"):
        assert not build_service(Runtime(fakes.config), http_address=address).access.required


@pytest.mark.asyncio
async def test_the_process_refuses_to_start_open_on_all_interfaces(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dashboard": {"listen": "0.0.0.0:0"}, "state_dir": str(tmp_path)}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.dashboard", "-c", str(config), env=child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"config error: dashboard.access_token: required" in stderr


@pytest.mark.asyncio
async def test_protected_dashboard_needs_a_session_or_bearer(protected):
    assert (await protected.get("/")).status_code == 200, "the page shell (with its login form) is public"
    for path in ("/livez", "/analytics", "/manifest.webmanifest", "/static/icons/icon-192.png"):
        assert (await protected.get(path)).status_code == 200, f"{path} is public (a browser fetches a manifest bare)"
    for path in ("/api/status", "/api/jobs", "/api/history", "/events"):
        response = await protected.get(path)
        assert response.status_code == 401 and response.json() == {"error": "login required"}, path
    login_redirect = await protected.get("/auth/login")
    assert login_redirect.status_code == 303 and login_redirect.headers["location"] == "/"
    assert (await protected.get("/api/status", headers={"authorization": "Bearer wrong"})).status_code == 401
    bearer = {"authorization": f"Bearer {TOKEN}"}
    assert (await protected.get("/api/status", headers=bearer)).status_code == 200
    no_csrf_needed = await protected.post("/api/jobs/nope/cancel", headers=bearer)
    assert no_csrf_needed.status_code == 404, "a bearer request cannot be forged by a browser: no CSRF token needed"


@pytest.mark.asyncio
async def test_login_form_sets_an_httponly_session_cookie(protected):
    assert (await protected.post("/api/login", json={"token": TOKEN})).status_code == 403, "login needs CSRF too"
    wrong = await protected.post("/api/login", json={"token": "guess"}, headers=csrf(protected))
    assert wrong.status_code == 401 and wrong.json() == {"error": "wrong access token"}
    assert (await protected.post("/api/login", content=b"not json", headers=csrf(protected))).status_code == 401
    ok = await protected.post("/api/login", json={"token": TOKEN}, headers=csrf(protected))
    assert ok.status_code == 200
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith("postflow_session=v1.") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert TOKEN not in cookie
    assert (await protected.get("/api/status")).status_code == 200
    async with protected.stream("GET", "/events") as events:
        assert events.status_code == 200
    forged = protected.cookies["postflow_session"][:-4] + "0000"
    protected.cookies.set("postflow_session", forged)
    assert (await protected.get("/api/status")).status_code == 401
    await protected.post("/api/logout", headers=csrf(protected))
    assert (await protected.get("/api/status")).status_code == 401


@pytest.mark.asyncio
async def test_session_survives_a_dashboard_restart_but_not_a_new_token(fakes, protected):
    await protected.post("/api/login", json={"token": TOKEN}, headers=csrf(protected))
    session = protected.cookies["postflow_session"]
    for token, expected in ((TOKEN, 200), ("another-token-entirely-0123456789", 401)):
        config = dataclasses.replace(fakes.config, dashboard=DashboardConfig(access_token=token))
        service = build_service(Runtime(config), http_address="127.0.0.1:0")
        await service.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}",
                                         cookies={"postflow_session": session}) as client:
                assert (await client.get("/api/status")).status_code == expected, token
        finally:
            await service.stop()


@pytest.mark.asyncio
async def test_posts_need_the_csrf_cookie_echoed_in_a_header(fakes, dashboard, http):
    job = fakes.watcher.add_job("csrf.mov")
    missing = await http.post(f"/api/jobs/{job.id}/cancel")
    assert missing.status_code == 403 and "CSRF" in missing.json()["error"]
    wrong = await http.post(f"/api/jobs/{job.id}/cancel", headers={"x-csrf-token": "forged"})
    assert wrong.status_code == 403
    async with httpx.AsyncClient(base_url=str(http.base_url)) as cookieless:
        header_only = await cookieless.post(f"/api/jobs/{job.id}/cancel", headers={"x-csrf-token": "a"})
        assert header_only.status_code == 403, "a header without the matching cookie is refused"
    assert (await http.post(f"/api/jobs/{job.id}/cancel", headers=csrf(http))).status_code == 200


@pytest.mark.asyncio
async def test_csrf_cookie_and_security_headers(fakes, dashboard):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{dashboard.http_port}") as client:
        page = await client.get("/")
    set_cookie = page.headers["set-cookie"]
    assert set_cookie.startswith("postflow_csrf=") and "SameSite=Strict" in set_cookie
    assert "HttpOnly" not in set_cookie, "the page's script must read it"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.asyncio
async def test_open_dashboard_only_answers_to_loopback_host_names(fakes, dashboard):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{dashboard.http_port}") as client:
        rebound = await client.get("/api/status", headers={"host": f"attacker.example:{dashboard.http_port}"})
        assert rebound.status_code == 403
        local = await client.get("/api/status", headers={"host": f"localhost:{dashboard.http_port}"})
        assert local.status_code == 200


@pytest.mark.asyncio
async def test_oauth_login_is_bound_to_the_browser_that_started_it(fakes, dashboard, http):
    start = await http.get("/auth/login")
    assert start.status_code == 303
    cookie = start.headers["set-cookie"]
    assert cookie.startswith("postflow_oauth=") and "HttpOnly" in cookie and "Path=/auth" in cookie
    assert "SameSite=lax" in cookie
    secret = http.cookies["postflow_oauth"]
    (pending,) = fakes.auth.pending.values()
    assert pending.binding == hashlib.sha256(secret.encode()).hexdigest()
    callback = start.headers["location"]
    assert callback.startswith(f"http://127.0.0.1:{dashboard.http_port}/auth/callback?")

    async with httpx.AsyncClient() as other_browser:
        other_browser.cookies.set("postflow_oauth", "someone-else", path="/auth")
        stolen = await other_browser.get(callback)
        assert stolen.status_code == 400 and "another browser" in stolen.text

    fresh = await http.get("/auth/login")
    done = await http.get(fresh.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert (await http.get("/api/status")).json()["auth"]["state"] == "connected", "shown at once"
    assert "postflow_oauth" not in http.cookies


@pytest.mark.asyncio
async def test_oauth_callback_problems_are_400_pages_naming_the_problem(fakes, dashboard, http):
    callback = (await http.get("/auth/login")).headers["location"]
    assert (await http.get(callback)).status_code == 303
    await http.get("/auth/login")  # a fresh cookie, but the old (used) state
    reused = await http.get(callback)
    assert reused.status_code == 400 and "unknown or already used state" in reused.text
    async with httpx.AsyncClient() as cookieless:
        missing = await cookieless.get(callback)
    assert missing.status_code == 400 and "login cookie is missing" in missing.text
    incomplete = await http.get("/auth/callback", params={"state": "x"})
    assert incomplete.status_code == 400 and "no code" in incomplete.text
    refused = await http.get("/auth/callback", params={"error": "access_denied",
                                                       "error_description": "<script>alert(1)</script>"})
    assert refused.status_code == 400
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in refused.text and "<script>" not in refused.text


@pytest.mark.asyncio
async def test_disconnect(fakes, dashboard, http):
    callback = (await http.get("/auth/login")).headers["location"]
    await http.get(callback)
    response = await http.post("/api/auth/disconnect", headers=csrf(http))
    assert response.status_code == 200 and response.json()["state"] == "disconnected"
    assert (await http.get("/api/status")).json()["auth"]["state"] == "disconnected"


@pytest.mark.asyncio
async def test_login_answers_503_when_auth_is_down(fakes, dashboard, http):
    await fakes.stop("auth")
    response = await http.get("/auth/login")
    assert response.status_code == 503 and "Frame.io login failed" in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize(("trusted", "secure"), [(("127.0.0.1",), True), ((), False)])
async def test_cookies_are_secure_behind_a_trusted_tls_proxy(fakes, trusted, secure):
    config = dataclasses.replace(fakes.config, dashboard=DashboardConfig(trusted_proxies=trusted))
    service = build_service(Runtime(config), http_address="127.0.0.1:0")
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}", timeout=10) as client:
            proxied = {"x-forwarded-proto": "https", "x-forwarded-for": "127.0.0.1"}
            cookie = (await client.get("/auth/login", headers=proxied)).headers["set-cookie"]
    finally:
        await service.stop()
    assert cookie.startswith("postflow_oauth=") and ("; secure" in cookie.lower()) == secure, cookie
