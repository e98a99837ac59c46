"""Bad input over the network and at start, against one running stack: forged, expired and
revoked publication URLs, malformed and oversized HTTP requests to the streamer's Range
server and to the dashboard, invalid configs, and forged OAuth callbacks. Each gets a
clear error, and every service keeps running with the pid it had."""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from postflow.core.clients import Clients
from postflow.core.config import load_config, split_address
from postflow.testing.campaign import MiB, assert_still_running, pids
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.processes import child_env
from postflow.testing.raw_http import parse_responses, raw_exchange, request_bytes
from postflow.testing.stack import Stack, running_stack
from postflow.v1 import auth_pb2, streamer_pb2

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

PUBLISHED = ".campaign-published.mov"  # hidden: the scanner leaves it alone


@dataclass
class Running:
    stack: Stack
    clients: Clients
    pids: dict

    @property
    def range_port(self) -> int:
        return split_address(self.stack.config["streamer"]["listen"], "streamer.listen")[1]

    @property
    def dashboard_port(self) -> int:
        return split_address(self.stack.config["dashboard"]["listen"], "dashboard.listen")[1]

    async def publish(self, ttl_s: int = 0) -> streamer_pb2.Publication:
        st = (self.stack.watch_root / PUBLISHED).stat()
        return await self.clients.streamer.Publish(streamer_pb2.PublishRequest(
            path=PUBLISHED, size=st.st_size, mtime_ns=st.st_mtime_ns, ttl_s=ttl_s, job_id="campaign"), timeout=10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory):
    async with running_stack(tmp_path_factory.mktemp("bad-requests")) as stack:
        write_media(stack.watch_root / PUBLISHED, 1 * MiB, seed=60)
        async with Clients(load_config(stack.config_path, env={})) as clients:
            yield Running(stack, clients, pids(stack))


async def get(url: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url, **kwargs)


async def test_forged_expired_and_revoked_publication_urls_are_refused(running, tally):
    good = await running.publish()
    assert (await get(good.url)).status_code == 200
    base = good.url.rsplit("/t/", 1)[0]
    for path in (f"/t/{secrets.token_urlsafe(24)}", "/t/short", "/t/../../etc/passwd", "/etc/passwd", "/"):
        response = await get(base + path)
        assert response.status_code == 404, path
    revoked = await running.publish()
    await running.clients.streamer.Revoke(streamer_pb2.RevokeRequest(ticket_id=revoked.ticket_id), timeout=10)
    response = await get(revoked.url)
    assert (response.status_code, response.text.strip()) == (410, "publication revoked")
    expiring = await running.publish(ttl_s=1)

    async def expired() -> httpx.Response | None:
        response = await get(expiring.url)
        return response if response.status_code != 200 else None

    response = await wait_for(expired, timeout=10, interval=0.2, message="the 1 s publication to expire")
    assert (response.status_code, response.text.strip()) == (410, "publication expired")
    tally.fault("bad input: forged, expired and revoked publication URLs", 7)
    await assert_still_running(running.stack, running.pids)


async def test_malformed_and_oversized_requests_to_the_range_server(running, tally):
    token_path = "/" + (await running.publish()).url.split("/", 3)[3]
    cases = {
        "garbage": (b"GARBAGE\r\n\r\n", 400, "malformed request line"),
        "no Host": (b"GET /livez HTTP/1.1\r\n\r\n", 400, "missing Host header"),
        "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP version not supported"),
        "HTTP/3.0": (request_bytes("/livez", version="HTTP/3.0"), 505, "HTTP version not supported"),
        "10 KB request line": (request_bytes("/t/" + "a" * 10_000), 414, "request line too long"),
        "20 KB of headers": (request_bytes("/livez", *[f"X-Pad-{i}: {'p' * 200}" for i in range(100)]), 431,
                             "request header fields too large"),
        "a GET with a body": (request_bytes(token_path, "Content-Length: 5") + b"hello", 400,
                              "request bodies are not accepted"),
        "a POST to a file": (request_bytes(token_path, "Content-Length: 5", method="POST") + b"hello", 405,
                             "Method Not Allowed"),
        "a chunked POST": (request_bytes("/hooks/frameio/" + "k" * 32, "Transfer-Encoding: chunked", method="POST")
                           + b"5\r\nhello\r\n0\r\n\r\n", 411, "send the body with a Content-Length, not chunked"),
        "two Range headers": (request_bytes(token_path, "Range: bytes=0-1", "Range: bytes=2-3"), 400,
                              "repeated range header"),
        "200 ranges": (request_bytes(token_path,
                                     "Range: bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(200))),
                       400, "bad Range: more than 16 ranges"),
        "PUT": (request_bytes(token_path, method="PUT"), 405, "Method Not Allowed"),
    }
    for name, (data, status, reason) in cases.items():
        (response,) = parse_responses(await raw_exchange(running.range_port, data))
        assert (response.status, response.body.decode().strip()) == (status, reason), name
    tally.fault("bad input: malformed or oversized request to the Range server", len(cases))
    await assert_still_running(running.stack, running.pids)


async def test_malformed_and_oversized_requests_to_the_dashboard(running, tally):
    port = running.dashboard_port
    raw = {
        "garbage": (b"GARBAGE\r\n\r\n", 400, "Invalid HTTP request received."),
        "1 MB of headers": (request_bytes("/api/status", *[f"X-Pad-{i}: {'p' * 1000}" for i in range(1000)]), 400,
                            "Invalid HTTP request received."),
        "a foreign Host (DNS rebinding)": (
            b"GET /api/status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
                                           403, "only answers on localhost"),
        "an 8 MiB body without a CSRF token": (request_bytes("/api/jobs/x/retry", "Content-Length: 8388608",
                                                             method="POST"), 403, "CSRF"),
    }
    for name, (data, status, reason) in raw.items():
        head, _, body = (await raw_exchange(port, data)).partition(b"\r\n\r\n")  # uvicorn may not frame its 400
        assert head.startswith(f"HTTP/1.1 {status} ".encode()) and reason in body.decode(), (name, head, body)
    async with httpx.AsyncClient(base_url=running.stack.dashboard_url, timeout=10) as client:
        csrf = (await client.get("/api/status")).cookies["postflow_csrf"]
        rest = {
            "page_size=abc": (await client.get("/api/jobs?page_size=abc"), 400, "page_size: expected a whole number"),
            "state=bogus": (await client.get("/api/jobs?state=bogus"), 400, "state: expected job states"),
            "unknown job": (await client.get("/api/jobs/no-such-job"), 404, "no job no-such-job"),
            "8 MiB body to retry": (await client.post("/api/jobs/no-such-job/retry", content=b"x" * (8 * MiB),
                                                      headers={"X-CSRF-Token": csrf}), 404, "no job no-such-job"),
        }
    for name, (response, status, reason) in rest.items():
        assert response.status_code == status and reason in response.json()["error"], (name, response.text)
    tally.fault("bad input: malformed or oversized request to the dashboard", len(raw) + len(rest))
    await assert_still_running(running.stack, running.pids)


async def test_invalid_configs_are_refused_naming_the_key(running, tmp_path, tally):
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"watch": {"root": "/media"},}')
    bogus_tunnel = tmp_path / "tunnel.json"
    bogus_tunnel.write_text('{"streamer": {"tunnel": {"mode": "bogus"}}}')
    cases = [
        (["-m", "postflow.cli", "check-config", "-c", str(bad_json)], {}, "invalid JSON at line 1"),
        (["-m", "services.streamer", "-c", str(bogus_tunnel)], {},
         "streamer.tunnel.mode: expected quick, named or none, got 'bogus'"),
        (["-m", "services.watcher", "-c", str(running.stack.config_path)], {"POSTFLOW__WATCH__MAX_CONCURRENT": "0"},
         "watch.max_concurrent: must be at least 1"),
    ]
    for argv, env, message in cases:
        process = await asyncio.create_subprocess_exec(sys.executable, *argv, env={**child_env(), **env},
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 2 and message in err.decode(), (argv, err.decode())
    tally.fault("bad input: invalid config", len(cases))
    await assert_still_running(running.stack, running.pids)


async def test_forged_oauth_callbacks_are_refused(running, tally):
    dashboard = running.stack.dashboard_url
    async with httpx.AsyncClient(base_url=dashboard, timeout=10) as stranger:
        response = await stranger.get("/auth/callback", params={"code": "x", "state": "forged"})
        assert response.status_code == 400 and "login cookie is missing" in response.text
        stranger.cookies.set("postflow_oauth", secrets.token_urlsafe(32), path="/auth")
        response = await stranger.get("/auth/callback", params={"code": "x", "state": "forged"})
        assert response.status_code == 400 and "unknown or already used" in response.text
        async with httpx.AsyncClient(base_url=dashboard, timeout=10) as victim:
            login = await victim.get("/auth/login")
            authorize = await victim.get(login.headers["location"])
            callback = urlsplit(authorize.headers["location"])
            assert callback.path == "/auth/callback" and "state" in parse_qs(callback.query)
            response = await stranger.get(f"/auth/callback?{callback.query}")  # the victim's code and state
            assert response.status_code == 400, response.text
            response = await victim.get(f"/auth/callback?{callback.query}")  # a state is tried once
            assert response.status_code == 400 and "unknown or already used" in response.text
    status = await running.clients.auth.GetStatus(auth_pb2.GetAuthStatusRequest(), timeout=10)
    assert status.state == auth_pb2.AUTH_STATE_CONNECTED, "the real connection is untouched"
    tally.fault("bad input: forged OAuth callback", 3)
    await assert_still_running(running.stack, running.pids)
