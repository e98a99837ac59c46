"""The CLI with several Frame.io connections: `postflow login|logout [--connection NAME]` act
on the one named (the default one without it), and `postflow status` lists each connection's
auth state, keeping `auth` for the default one."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from postflow.cli import output
from postflow.cli.commands import gather_status
from postflow.cli.login import through_dashboard
from postflow.cli.main import build_parser
from postflow.core.clients import Clients
from postflow.core.config import Config, load_config, write_config
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.testing.auth import config_dict, login, running_auth
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env
from postflow.v1 import auth_pb2, auth_pb2_grpc

TIMEOUT_S = 30


@dataclass
class Setup:
    config_path: Path
    config: Config
    stub: auth_pb2_grpc.AuthServiceStub


@pytest_asyncio.fixture
async def auth(tmp_path) -> AsyncIterator[Setup]:
    """The emulator and a real auth service with connections "default" and "b"; a config for
    the CLI pointing at it (the other services at ports where nothing listens)."""
    async with running_emulator(EmulatorOptions(rate_limits=False, allow_http_loopback_redirect=True)) as emulator:
        raw = config_dict(tmp_path / "state", emulator.url, connections={"b": {}})
        write_config(raw, tmp_path / "auth.json")
        async with running_auth(load_config(tmp_path / "auth.json", env={})) as running:
            services = {"auth": running.address, "watcher": f"127.0.0.1:{free_port()}",
                        "streamer": f"127.0.0.1:{free_port()}"}
            write_config({**raw, "services": services, "dashboard": {"listen": f"127.0.0.1:{free_port()}"}},
                         tmp_path / "cli.json")
            yield Setup(tmp_path / "cli.json", load_config(tmp_path / "cli.json", env={}), running.stub)


async def state_of(setup: Setup, connection: str) -> int:
    return (await setup.stub.GetStatus(auth_pb2.GetAuthStatusRequest(connection=connection), timeout=5)).state


async def postflow(setup: Setup, *arguments: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", *arguments, "-c", str(setup.config_path), env=child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(("argv", "connection"), [
    (["login"], ""), (["login", "--connection", "b"], "b"), (["login", "--headless", "--connection", "b"], "b"),
    (["logout"], ""), (["logout", "--connection", "b"], "b"),
])
def test_login_and_logout_take_a_connection(argv, connection):
    assert build_parser().parse_args(argv).connection == connection


@pytest.mark.asyncio
async def test_logout_disconnects_only_the_connection_named(auth):
    await login(auth.stub)
    await login(auth.stub, connection="b")
    code, out, err = await postflow(auth, "logout", "--connection", "b")
    assert code == 0, err
    assert out.strip() == "disconnected (connection b); tokens revoked and wiped"
    assert await state_of(auth, "b") == auth_pb2.AUTH_STATE_DISCONNECTED
    assert await state_of(auth, "default") == auth_pb2.AUTH_STATE_CONNECTED
    code, _, err = await postflow(auth, "logout", "--connection", "nope")
    assert code == 1 and err.strip() == "postflow: connection 'nope': unknown (known: default, b)"


@pytest.mark.asyncio
async def test_login_through_the_dashboard_waits_for_the_connection_named(auth, capsys):
    async with Clients(auth.config) as clients:
        waiting = asyncio.create_task(through_dashboard(clients, auth.config, TIMEOUT_S, "b"))
        await wait_for(lambda: "/auth/login?connection=b" in capsys.readouterr().out, message="the URL printed")
        await login(auth.stub)  # the default connection's CONNECTED comes first on the stream: passed over
        await login(auth.stub, connection="b")
        connected = await asyncio.wait_for(waiting, TIMEOUT_S)
    assert (connected.connection, connected.state) == ("b", auth_pb2.AUTH_STATE_CONNECTED)


@pytest.mark.asyncio
async def test_status_lists_each_connection_and_keeps_auth_for_the_default_one(auth):
    await login(auth.stub, connection="b")
    async with Clients(auth.config) as clients:
        status = await gather_status(auth.config, clients)
    assert [(view["connection"], view["state"]) for view in status["connections"]] == \
        [("default", "disconnected"), ("b", "connected")]
    assert status["auth"]["connection"] == "default" and status["auth"]["state"] == "disconnected"
    out = io.StringIO()
    output.print_status(status, out)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("frame.io")]
    assert lines[0] == "frame.io   disconnected"
    assert lines[1].startswith("frame.io   [b] connected as ") and ", reconnect by " in lines[1]


@pytest.mark.asyncio
async def test_a_headless_login_connects_the_connection_named(auth):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", "login", "--headless", "--connection", "b", "-c", str(auth.config_path),
        env=child_env(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    while not (await asyncio.wait_for(process.stdout.readline(), TIMEOUT_S)).startswith(b"1. "):
        pass
    url = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT_S)).decode().strip()
    async with httpx.AsyncClient(timeout=10) as browser:
        landed = (await browser.get(url, follow_redirects=False)).headers["location"]
    out, err = await asyncio.wait_for(process.communicate(f"{landed}\n".encode()), TIMEOUT_S)
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines()[-1].endswith(" (connection b)")
    assert await state_of(auth, "b") == auth_pb2.AUTH_STATE_CONNECTED
    assert await state_of(auth, "default") == auth_pb2.AUTH_STATE_DISCONNECTED
