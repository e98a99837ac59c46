"""postflow.frameio against the emulator: discovery, pacing from its rate-limit headers, and
429s answered without a wait request."""

import httpx
import pytest
import pytest_asyncio

from postflow.core.config import FrameioConfig
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.frameio import FrameioClient, ProjectRef
from postflow.testing.emulator import StaticTokens, client_credentials_token, set_faults


@pytest_asyncio.fixture
async def emulator():
    async with running_emulator(EmulatorOptions(transcode_delay_s=0.3)) as handle:
        yield handle


@pytest.fixture
def statuses() -> list[int]:
    """The status of every answer the emulator gave."""
    return []


@pytest_asyncio.fixture
async def connect(emulator, statuses):
    token = await client_credentials_token(emulator.url)

    async def record(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    async with httpx.AsyncClient(timeout=20, event_hooks={"response": [record]}) as http:
        def client(**keys) -> FrameioClient:
            config = FrameioConfig(api_base_url=emulator.url, ims_base_url=emulator.url, **keys)
            return FrameioClient(config, StaticTokens(token), http, server_error_backoff_s=0.05)
        yield client


@pytest.mark.asyncio
async def test_discovery_finds_the_seeded_project_pinned_or_not(emulator, connect):
    seed = emulator.state.seeded()
    found = await connect().project()
    pinned = await connect(account_id=seed["account_id"], project_id=seed["project_id"]).project()
    for ref in (found, pinned):
        assert isinstance(ref, ProjectRef)
        assert (ref.account_id, ref.workspace_id, ref.project_id, ref.root_folder_id) == (
            seed["account_id"], seed["workspace_id"], seed["project_id"], seed["root_folder_id"])
        assert ref.account_name and ref.workspace_name and ref.project_name


@pytest.mark.asyncio
async def test_a_burst_of_creations_is_paced_below_the_limit(emulator, connect, statuses):
    client = connect()
    ref = await client.project()
    for index in range(8):  # 3/s: the client waits rather than meet a 429
        await client.create_folder(ref.account_id, ref.root_folder_id, f"SQ{index:02d}")
    names = {child.name for child in await client.list_children(ref.account_id, ref.root_folder_id)}
    assert {f"SQ{index:02d}" for index in range(8)} <= names
    assert 429 not in statuses


@pytest.mark.asyncio
async def test_server_errors_and_429s_from_the_emulator_are_ridden_out(emulator, connect, statuses):
    client = connect()
    ref = await client.project()
    for fault, status in (({"server_error": {"status": 503, "path": "/v4/*", "count": 2}}, 503),
                          ({"rate_limit_burst": {"count": 2, "path": "/v4/*", "retry_after": 0}}, 429)):
        await set_faults(emulator.url, fault)
        statuses.clear()
        assert await client.list_children(ref.account_id, ref.root_folder_id) == []
        assert statuses == [status, status, 200]
