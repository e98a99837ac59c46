"""The tunnel manager against a stand-in cloudflared (postflow/testing/fakes/cloudflared.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import grpc
import httpx
import pytest
import pytest_asyncio

from postflow.core.config import ConfigError, TunnelConfig
from postflow.core.service import Runtime
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, process_alive
from postflow.testing.streamer import FAKE_CLOUDFLARED, fake_cloudflared, start_streamer, stop_streamer, streamer_config
from postflow.v1 import streamer_pb2
from services.streamer.server import build_service
from services.streamer.tunnel import TunnelManager

UP, DOWN, STARTING = streamer_pb2.TUNNEL_STATE_UP, streamer_pb2.TUNNEL_STATE_DOWN, streamer_pb2.TUNNEL_STATE_STARTING
QUICK_URL = re.compile(r"https://[a-z0-9-]+\.trycloudflare\.com")


class Tunnel:
    """A TunnelManager on the stand-in, with every status it announced."""

    def __init__(self, tmp_path: Path, **config) -> None:
        self.launcher, self.control = fake_cloudflared(tmp_path)
        os.environ["FAKE_CLOUDFLARED_DIR"] = str(self.control)
        self.config = TunnelConfig(**{"mode": "quick", "cloudflared": str(self.launcher),
                                      "restart_backoff_max_s": 0.4, **config})
        self.statuses: list[streamer_pb2.TunnelStatus] = []
        self.http = httpx.AsyncClient(timeout=2)
        self.manager = TunnelManager(self.config, local_host="127.0.0.1", local_port=8123,
                                     on_status=self.statuses.append, http=self.http, poll_s=0.1,
                                     backoff_base_s=0.1, stop_timeout_s=1.0)

    def starts(self) -> list[dict]:
        path = self.control / "starts"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def urls(self) -> list[str]:
        seen = []
        for status in self.statuses:
            if status.state == UP and status.public_url not in seen:
                seen.append(status.public_url)
        return seen

    async def up(self, count: int = 1, timeout: float = 15) -> str:
        """Waits until `count` distinct URLs have been announced as UP; returns the last."""
        await wait_for(lambda: len(self.urls()) >= count and self.manager.status.state == UP, timeout=timeout,
                       message=f"{count} tunnel URL(s) up")
        return self.urls()[-1]

    def command(self, name: str, content: str = "") -> None:
        (self.control / name).write_text(content)

    async def close(self) -> None:
        await self.manager.stop()
        await self.http.aclose()
        os.environ.pop("FAKE_CLOUDFLARED_DIR", None)


@pytest_asyncio.fixture
async def tunnel(tmp_path):
    made = Tunnel(tmp_path)
    yield made
    await made.close()


@pytest.mark.asyncio
async def test_quick_tunnel_url_comes_from_the_output_and_the_metrics_endpoint(tunnel):
    await tunnel.manager.start()
    url = await tunnel.up()
    assert QUICK_URL.fullmatch(url)
    (start,) = tunnel.starts()
    argv = start["argv"]
    assert argv[:2] == ["tunnel", "--no-autoupdate"]
    assert argv[argv.index("--url") + 1] == "http://127.0.0.1:8123"
    metrics = argv[argv.index("--metrics") + 1]
    hostname = httpx.get(f"http://{metrics}/quicktunnel").json()["hostname"]
    assert url == f"https://{hostname}"
    assert tunnel.statuses[0].state == STARTING


@pytest.mark.asyncio
async def test_crash_restarts_cloudflared_and_announces_the_new_url(tunnel):
    await tunnel.manager.start()
    first = await tunnel.up()
    first_pid = tunnel.starts()[0]["pid"]
    tunnel.command("crash")
    second = await tunnel.up(count=2)
    assert second != first
    states = [s.state for s in tunnel.statuses]
    assert DOWN in states[states.index(UP):]  # the death itself was announced
    down = next(s for s in tunnel.statuses if s.state == DOWN)
    assert not down.public_url and "exit code 3" in down.message
    assert tunnel.manager.status.restarts == 1
    assert [s["pid"] for s in tunnel.starts()][0] == first_pid and len(tunnel.starts()) == 2


@pytest.mark.asyncio
async def test_a_url_change_without_restart_is_announced(tunnel):
    await tunnel.manager.start()
    first = await tunnel.up()
    tunnel.command("new-url")
    assert await tunnel.up(count=2) != first
    assert len(tunnel.starts()) == 1


@pytest.mark.asyncio
async def test_a_flood_of_output_never_stalls_the_tunnel(tunnel):
    """cloudflared blocks on a full pipe; the manager drains both pipes all the time, so the
    stand-in gets through 8 MiB of log lines per pipe and then still switches its URL."""
    await tunnel.manager.start()
    first = await tunnel.up()
    tunnel.command("flood", str(8 * 1024 * 1024))
    await wait_for(lambda: (tunnel.control / "flooded").exists(), timeout=30, message="flood written")
    tunnel.command("new-url")
    assert await tunnel.up(count=2) != first
    assert tunnel.manager.process.returncode is None


@pytest.mark.asyncio
async def test_nobody_reading_the_pipes_would_block_the_stand_in(tmp_path):
    """The control case for the test above: without a reader the same flood never finishes."""
    _, control = fake_cloudflared(tmp_path)
    env = {**os.environ, "FAKE_CLOUDFLARED_DIR": str(control)}
    (control / "flood").write_text(str(1024 * 1024))
    process = subprocess.Popen(
        [sys.executable, str(FAKE_CLOUDFLARED), "tunnel", "--metrics", f"127.0.0.1:{free_port()}", "--url",
         "http://127.0.0.1:1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        await wait_for(lambda: not (control / "flood").exists(), timeout=10, message="flood started")
        with pytest.raises(AssertionError):
            await wait_for(lambda: (control / "flooded").exists(), timeout=1.0)
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


@pytest.mark.asyncio
async def test_named_tunnel_gets_its_token_from_the_environment_never_argv(tmp_path):
    tunnel = Tunnel(tmp_path, mode="named", token="named-tunnel-token-123",
                    public_base_url="https://media.example.com")
    try:
        await tunnel.manager.start()
        assert await tunnel.up() == "https://media.example.com"
        (start,) = tunnel.starts()
        assert start["tunnel_token"] == "named-tunnel-token-123"
        assert "named-tunnel-token-123" not in " ".join(start["argv"])
        assert start["argv"][-1] == "run" and "--url" not in start["argv"]
    finally:
        await tunnel.close()


@pytest.mark.asyncio
async def test_stop_terminates_cloudflared_and_kills_one_that_ignores_sigterm(tmp_path):
    tunnel = Tunnel(tmp_path)
    tunnel.command("ignore-term")
    await tunnel.manager.start()
    await tunnel.up()
    process = tunnel.manager.process
    await tunnel.close()
    assert process.returncode == -9
    assert tunnel.manager.status.state == streamer_pb2.TUNNEL_STATE_STOPPED


@pytest.mark.asyncio
async def test_stop_ends_a_well_behaved_cloudflared_with_sigterm(tunnel):
    await tunnel.manager.start()
    await tunnel.up()
    process = tunnel.manager.process
    await tunnel.manager.stop()
    assert process.returncode == 0


@pytest.mark.asyncio
async def test_a_missing_binary_is_reported_down_and_retried(tmp_path):
    tunnel = Tunnel(tmp_path)
    tunnel.manager.config = replace(tunnel.config, cloudflared=str(tmp_path / "no-such-cloudflared"))
    try:
        await tunnel.manager.start()
        await wait_for(lambda: tunnel.manager.status.restarts >= 2, message="restarts")
        assert tunnel.manager.status.state in (DOWN, STARTING)
        assert not tunnel.manager.public_url
        assert any("cannot start" in s.message for s in tunnel.statuses)
    finally:
        await tunnel.close()


@pytest.mark.asyncio
async def test_external_quick_tunnel_is_read_from_its_metrics_address(tmp_path):
    """`cloudflared: ""`: nothing is spawned (compose runs it); URL and readiness come from
    the metrics endpoint, and its loss is reported."""
    _, control = fake_cloudflared(tmp_path)
    metrics = f"127.0.0.1:{free_port()}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(FAKE_CLOUDFLARED), "tunnel", "--metrics", metrics, "--url", "http://streamer:8080",
        env={**os.environ, "FAKE_CLOUDFLARED_DIR": str(control)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    statuses = []
    async with httpx.AsyncClient(timeout=2) as http:
        manager = TunnelManager(TunnelConfig(mode="quick", cloudflared="", metrics=metrics), local_host="0.0.0.0",
                                local_port=8080, on_status=statuses.append, http=http, poll_s=0.1)
        try:
            await manager.start()
            await wait_for(lambda: manager.status.state == UP, message="external tunnel up")
            assert QUICK_URL.fullmatch(manager.public_url)
            assert manager.process is None
            process.kill()
            await process.wait()
            await wait_for(lambda: manager.status.state == DOWN, message="external tunnel down")
            assert not manager.public_url
        finally:
            await manager.stop()
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.mark.asyncio
async def test_mode_none_serves_at_the_listen_address_or_the_public_base(tmp_path):
    statuses = []
    async with httpx.AsyncClient() as http:
        plain = TunnelManager(TunnelConfig(mode="none"), local_host="0.0.0.0", local_port=8080,
                              on_status=statuses.append, http=http)
        proxied = TunnelManager(TunnelConfig(mode="none", public_base_url="https://media.example.com"),
                                local_host="127.0.0.1", local_port=8080, on_status=statuses.append, http=http)
        await plain.start()
        await proxied.start()
        assert (plain.public_url, plain.status.state) == ("http://127.0.0.1:8080", UP)
        assert proxied.public_url == "https://media.example.com"


@pytest.mark.asyncio
async def test_service_publishes_under_the_tunnel_and_reissues_urls_after_a_crash(tmp_path):
    launcher, control = fake_cloudflared(tmp_path)
    os.environ["FAKE_CLOUDFLARED_DIR"] = str(control)
    config = streamer_config(tmp_path, {"tunnel": {"mode": "quick", "cloudflared": str(launcher),
                                               "restart_backoff_max_s": 0.3}})
    streamer = await start_streamer(config)
    events: list[streamer_pb2.StreamerEvent] = []

    async def watch():
        async for event in streamer.stub.WatchEvents(streamer_pb2.WatchStreamerEventsRequest()):
            events.append(event)

    watching = asyncio.create_task(watch())
    try:
        streamer.media("a.mov", 1000)
        status = await wait_for(lambda: streamer.service.tunnel.status.state == UP and streamer.service.tunnel.status,
                                timeout=15, message="tunnel up")
        publication = await streamer.publish("a.mov")
        assert publication.url.startswith(status.public_url + "/t/")
        (control / "crash").touch()
        new = await wait_for(lambda: next((e.tunnel for e in events if e.HasField("tunnel") and e.tunnel.state == UP
                                           and e.tunnel.public_url not in ("", status.public_url)), None),
                             timeout=15, message="new URL event")
        assert any(e.HasField("tunnel") and e.tunnel.state == DOWN for e in events)
        again = await streamer.stub.GetPublication(streamer_pb2.GetPublicationRequest(ticket_id=publication.ticket_id))
        assert again.url == publication.url.replace(status.public_url, new.public_url)
        assert events[0].HasField("tunnel")  # the first message is the current tunnel status
    finally:
        watching.cancel()
        await stop_streamer(streamer)
        os.environ.pop("FAKE_CLOUDFLARED_DIR", None)


@pytest.mark.asyncio
async def test_publish_is_unavailable_until_the_tunnel_is_up(tmp_path):
    config = streamer_config(tmp_path, {"tunnel": {"mode": "quick", "cloudflared": str(tmp_path / "missing")}})
    streamer = await start_streamer(config)
    try:
        streamer.media("a.mov", 10)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await streamer.publish("a.mov")
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "tunnel not up yet" in caught.value.details()
    finally:
        await stop_streamer(streamer)


def test_an_external_quick_tunnel_needs_its_metrics_address(tmp_path):
    with pytest.raises(ConfigError, match="streamer.tunnel.metrics"):  # refused when the config loads
        build_service(Runtime(streamer_config(tmp_path, {"tunnel": {"mode": "quick", "cloudflared": ""}})))


@pytest.mark.asyncio
async def test_cloudflared_stops_when_the_streamer_is_killed(tmp_path):
    launcher, control = fake_cloudflared(tmp_path)
    tunnel = {"mode": "quick", "cloudflared": str(launcher)}
    streamer_config(tmp_path, {"listen": f"127.0.0.1:{free_port()}", "tunnel": tunnel},
                services={"streamer": f"127.0.0.1:{free_port()}"})
    streamer = subprocess.Popen([sys.executable, "-m", "services.streamer", "-c", str(tmp_path / "config.json")],
                                env={**child_env(), "FAKE_CLOUDFLARED_DIR": str(control)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        starts = control / "starts"
        line = await wait_for(lambda: starts.exists() and starts.read_text().strip(), timeout=30,
                              message="cloudflared started by the streamer")
        cloudflared = json.loads(line.splitlines()[0])["pid"]
        assert process_alive(cloudflared)
        streamer.kill()
        streamer.wait(10)
        await wait_for(lambda: not process_alive(cloudflared), timeout=10,
                       message="cloudflared to stop with its streamer")
    finally:
        streamer.kill()
        streamer.wait(10)
