"""The default kind of redirect URI works out of the box: with `https://localhost:PORT/auth/callback`
and dashboard.tls left "auto", the dashboard on PORT serves a self-signed certificate, and a
browser that trusts it connects Frame.io through a real auth service and the emulator's IMS,
which takes the https redirect without any loopback-http switch."""

from __future__ import annotations

import ssl

import httpx
import pytest

from postflow.core.config import build_config, dashboard_tls
from postflow.core.service import Runtime
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.testing.auth import auth_config, config_dict, running_auth
from postflow.testing.ports import free_port
from postflow.v1 import auth_pb2
from services.dashboard.server import build_service
from services.dashboard.tls import CERT_FILE


@pytest.mark.asyncio
async def test_connect_frameio_through_the_https_dashboard(tmp_path):
    port = free_port()
    redirect_uri = f"https://localhost:{port}/auth/callback"
    async with running_emulator(EmulatorOptions(rate_limits=False)) as emulator, \
            running_auth(auth_config(tmp_path, emulator.url, frameio={"redirect_uri": redirect_uri})) as auth:
        raw = config_dict(tmp_path / "state", emulator.url, frameio={"redirect_uri": redirect_uri})
        config = build_config({**raw, "dashboard": {"listen": f"127.0.0.1:{port}"},
                               "services": {"auth": auth.address, "watcher": f"127.0.0.1:{free_port()}",
                                            "streamer": f"127.0.0.1:{free_port()}"}})
        assert config.dashboard.tls == "auto" and dashboard_tls(config) == "self-signed"
        dashboard = build_service(Runtime(config))
        await dashboard.start()
        try:
            trusted = ssl.create_default_context(cafile=str(config.state_path / "dashboard" / CERT_FILE))
            async with httpx.AsyncClient(verify=trusted, follow_redirects=True, timeout=10) as browser:
                await browser.get(f"https://localhost:{port}/")
                page = await browser.get(f"https://localhost:{port}/auth/login")
        finally:
            await dashboard.stop()
        status = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest(), timeout=5)
    assert page.status_code == 200 and str(page.url) == f"https://localhost:{port}/"
    assert [str(step.url).split("?")[0] for step in page.history][-1] == redirect_uri, "back through the callback"
    assert status.state == auth_pb2.AUTH_STATE_CONNECTED
