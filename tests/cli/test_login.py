"""`postflow login --headless`: prints Adobe's authorize URL, reads the address the browser
ended on from stdin and completes the login through the real auth service (against the
emulator's IMS); what it says about a pasted address that cannot complete this login."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from postflow.cli.login import authorization_code
from postflow.core.config import FrameioConfig, load_config, write_config
from postflow.core.errors import InvalidArgument, PermissionDenied
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.testing.auth import config_dict, running_auth
from postflow.testing.processes import child_env, stop_process
from postflow.v1 import auth_pb2, auth_pb2_grpc

TIMEOUT_S = 30
REDIRECT_URI = FrameioConfig().redirect_uri  # the default, https://localhost:8000/auth/callback: nothing there


@dataclass
class Setup:
    config_path: Path
    stub: auth_pb2_grpc.AuthServiceStub


@pytest_asyncio.fixture
async def auth(tmp_path) -> AsyncIterator[Setup]:
    """The emulator and a real auth service in this loop; a config for the CLI pointing at them."""
    async with running_emulator(EmulatorOptions(rate_limits=False)) as emulator:
        raw = config_dict(tmp_path / "state", emulator.url, frameio={"redirect_uri": REDIRECT_URI})
        write_config(raw, tmp_path / "auth.json")
        async with running_auth(load_config(tmp_path / "auth.json", env={})) as running:
            write_config({**raw, "services": {"auth": running.address}}, tmp_path / "cli.json")
            yield Setup(tmp_path / "cli.json", running.stub)


@contextlib.asynccontextmanager
async def headless_login(setup: Setup, *options: str) -> AsyncIterator[asyncio.subprocess.Process]:
    login = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", "login", "--headless", "-c", str(setup.config_path), *options,
        env=child_env(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        yield login
    finally:
        await stop_process(login)


async def authorize_url(login: asyncio.subprocess.Process) -> str:
    """The URL the command asks the user to open (the line after "1. Open this URL …")."""
    assert login.stdout is not None
    while not (line := (await asyncio.wait_for(login.stdout.readline(), TIMEOUT_S)).decode()).startswith("1. "):
        assert line, "the command ended before printing the authorize URL"
    return (await asyncio.wait_for(login.stdout.readline(), TIMEOUT_S)).decode().strip()


async def browser_ends_on(url: str) -> str:
    """Where the browser lands after the emulator's IMS approves: the redirect to
    REDIRECT_URI, where nothing answers (only the address bar shows it)."""
    async with httpx.AsyncClient(timeout=10) as browser:
        response = await browser.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def auth_state(setup: Setup) -> int:
    return (await setup.stub.GetStatus(auth_pb2.GetAuthStatusRequest(), timeout=5)).state


@pytest.mark.asyncio
async def test_the_pasted_redirect_address_connects_frameio(auth):
    async with headless_login(auth) as login:
        url = await authorize_url(login)
        landed = await browser_ends_on(url)
        assert landed.startswith(f"{REDIRECT_URI}?code=")
        out, err = await asyncio.wait_for(login.communicate(f"  {landed}  \n".encode()), TIMEOUT_S)
    assert login.returncode == 0, err.decode()
    assert out.decode().splitlines()[-1].startswith("connected as ")
    assert await auth_state(auth) == auth_pb2.AUTH_STATE_CONNECTED


@pytest.mark.asyncio
async def test_an_address_from_another_login_is_refused(auth):
    async with headless_login(auth) as first, headless_login(auth) as second:
        await authorize_url(first)
        other = await browser_ends_on(await authorize_url(second))
        _, err = await asyncio.wait_for(first.communicate(f"{other}\n".encode()), TIMEOUT_S)
    assert first.returncode == 1
    assert err.decode().startswith("postflow: the pasted address belongs to another login")
    assert await auth_state(auth) == auth_pb2.AUTH_STATE_DISCONNECTED


@pytest.mark.asyncio
async def test_nothing_pasted_ends_at_the_timeout(auth):
    async with headless_login(auth, "--timeout", "0.5") as login:
        await authorize_url(login)
        _, err = await asyncio.wait_for(login.communicate(), TIMEOUT_S)  # stdin stays open: the read never ends
    assert login.returncode == 1 and err.decode().strip() == "postflow: no address pasted within 0.5s"


STATE = "state-of-this-login"


def test_the_code_comes_from_an_address_with_this_logins_state():
    landed = f"https://localhost:8000/auth/callback?code=the-code&state={STATE}"
    assert authorization_code(f" {landed}\n", STATE) == "the-code"


@pytest.mark.parametrize(("pasted", "error", "message"), [
    ("", InvalidArgument, "no address pasted"),
    ("https://localhost:8000/auth/callback", InvalidArgument, "has no code and no state parameter"),
    (f"https://localhost:8000/auth/callback?state={STATE}", InvalidArgument, "has no code parameter"),
    ("https://localhost:8000/auth/callback?code=c", InvalidArgument, "has no state parameter"),
    ("https://localhost:8000/auth/callback?code=c&state=another", InvalidArgument, "belongs to another login"),
    (f"https://localhost:8000/auth/callback?error=access_denied&error_description=The+user+declined&state={STATE}",
     PermissionDenied, "Adobe IMS refused the login: The user declined"),
    (f"https://localhost:8000/auth/callback?error=access_denied&state={STATE}", PermissionDenied,
     "Adobe IMS refused the login: access_denied"),
])
def test_what_a_pasted_address_that_cannot_log_in_says(pasted, error, message):
    with pytest.raises(error, match=message):
        authorization_code(pasted, STATE)
