"""Fixtures for the emulator's tests: an in-process emulator on a free loopback port, an
access token, the official SDK pointed at the emulator (recording every raw response so
tests can validate bodies strictly against the SDK's models), and a local Range server."""

from __future__ import annotations

import httpx
import pytest
import pytest_asyncio
from frameio import AsyncFrameio

from postflow.emulator.options import EmulatorOptions
from postflow.emulator.seed import AccountSpec, ClientSpec, ProjectSpec, SeedSpec, UserSpec, WorkspaceSpec
from postflow.emulator.server import running_emulator
from postflow.testing.emulator import client_credentials_token
from postflow.testing.file_server import RangeServer
from postflow.testing.frameio_sdk import Responses
from postflow.testing.media import write_media

FAST = EmulatorOptions(transcode_delay_s=0.3)


@pytest.fixture
def options() -> EmulatorOptions:
    return FAST


@pytest_asyncio.fixture
async def emulator(options):
    async with running_emulator(options) as handle:
        yield handle


@pytest.fixture
def frozen_clock(emulator) -> list[float]:
    """Stops the rate limiter's clock (its buckets do not drain) until the test moves `clock[0]`."""
    clock = [emulator.state.rate_limits.clock()]
    emulator.state.rate_limits.clock = lambda: clock[0]
    return clock


@pytest_asyncio.fixture
async def token(emulator) -> str:
    return await client_credentials_token(emulator.url)


@pytest.fixture
def responses() -> Responses:
    return Responses()


@pytest_asyncio.fixture
async def http(responses):
    async with httpx.AsyncClient(timeout=20, event_hooks={"response": [responses]}) as client:
        yield client


@pytest.fixture
def sdk(emulator, token, http) -> AsyncFrameio:
    return AsyncFrameio(base_url=emulator.url, token=token, httpx_client=http)


@pytest.fixture
def seeded(emulator) -> dict:
    return emulator.state.seeded()


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict:
    """Small source files by name: {name: (path, sha256)}."""
    root = tmp_path_factory.mktemp("media")
    sizes = {"clip.mov": 3 * 1024 * 1024 + 123, "tiny.mp4": 1000, "odd.bin": 777_777}
    return {name: (root / name, write_media(root / name, size, seed=index)) for index, (name, size)
            in enumerate(sizes.items())}


@pytest.fixture
def source(media):
    with RangeServer({f"/{name}": path for name, (path, _) in media.items()}) as server:
        yield server


REVIEWER_CLIENT = ("reviewer-app", "reviewer-app-secret")
REVIEW_SEED = SeedSpec(
    users=(UserSpec("Ann Admin", "ann@a.test"), UserSpec("Rey Reviewer", "rey@a.test")),
    accounts=(AccountSpec("Studio", workspaces=(WorkspaceSpec("Shows", projects=(
        ProjectSpec("Show"), ProjectSpec("Other show"))),)),),
    clients=(ClientSpec(*REVIEWER_CLIENT, technical_user="rey@a.test"),))
# Ann (the owner, an admin) and Rey, a plain member; quick processing, webhook retries and deadline.
REVIEW = EmulatorOptions(seed=REVIEW_SEED, processing_delay_s=0.1, transcode_delay_s=0.2,
                         webhook_backoff_s=0.1, webhook_deadline_s=1.0)


@pytest_asyncio.fixture
async def reviewer_sdk(emulator, http) -> AsyncFrameio:
    """The SDK acting as Rey, a member of the account who is not an admin."""
    token = await client_credentials_token(emulator.url, client_id=REVIEWER_CLIENT[0], client_secret=REVIEWER_CLIENT[1])
    return AsyncFrameio(base_url=emulator.url, token=token, httpx_client=http)
