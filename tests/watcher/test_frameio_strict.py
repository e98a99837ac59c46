"""postflow.frameio against the strict emulator: an edge's HTML 401/429/503 (`error_body`),
429s without `Retry-After`, and pacing from the leaky bucket's `x-ratelimit-*` headers."""

import httpx
import pytest
import pytest_asyncio

from postflow.core.config import FrameioConfig
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.frameio import FrameioClient
from postflow.testing.emulator import client_credentials_token, set_faults
from postflow.testing.frameio_mock import ManualTime


class RefreshedTokens:
    """A rejected token until a refresh is forced (or `refreshes` says one was), then the real one."""

    def __init__(self, token: str, refreshes: int = 0) -> None:
        self.token = token
        self.refreshes = refreshes

    async def access_token(self, *, force_refresh: bool = False, rejected_token: str = "") -> str:
        self.refreshes += force_refresh
        return self.token if self.refreshes else "not-a-token"


@pytest_asyncio.fixture
async def emulator():
    async with running_emulator(EmulatorOptions(transcode_delay_s=0.3)) as handle:
        yield handle


@pytest_asyncio.fixture
async def answers(emulator):
    """Every answer the emulator gave (status, headers), and the httpx client that saw them."""
    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        seen.append(response)

    async with httpx.AsyncClient(timeout=20, event_hooks={"response": [record]}) as http:
        yield seen, http


def client_for(emulator, http, tokens, **kwargs) -> FrameioClient:
    config = FrameioConfig(api_base_url=emulator.url, ims_base_url=emulator.url)
    return FrameioClient(config, tokens, http, server_error_backoff_s=0.05, **kwargs)


@pytest.mark.asyncio
async def test_html_401_429_and_503_from_an_edge_are_refreshed_waited_and_retried(emulator, answers):
    seen, http = answers
    tokens = RefreshedTokens(await client_credentials_token(emulator.url))
    await set_faults(emulator.url, {"error_body": "html"})
    client = client_for(emulator, http, tokens)
    ref = await client.project()  # the first call meets a 401 with an HTML body
    assert tokens.refreshes == 1 and seen[0].status_code == 401 and "html" in seen[0].headers["content-type"]
    for fault, status in (({"server_error": {"status": 503, "path": "/v4/*", "count": 2}}, 503),
                          ({"rate_limit_burst": {"count": 2, "path": "/v4/*"}}, 429)):
        await set_faults(emulator.url, fault)
        seen.clear()
        assert await client.list_children(ref.account_id, ref.root_folder_id) == []
        assert [r.status_code for r in seen] == [status, status, 200]
        assert all("html" in r.headers["content-type"] and "retry-after" not in r.headers for r in seen[:2])


@pytest.mark.asyncio
async def test_a_bucket_filled_by_another_client_is_waited_out_then_paced_from_the_headers(emulator, answers):
    seen, http = answers
    token = await client_credentials_token(emulator.url)
    time = ManualTime()
    emulator.state.rate_limits.clock = time.clock  # the bucket drains only while the client sleeps
    client = client_for(emulator, http, RefreshedTokens(token, refreshes=1), clock=time.clock, sleep=time.sleep)
    ref = await client.project()
    folders = f"{emulator.url}/v4/accounts/{ref.account_id}/folders/{ref.root_folder_id}/folders"
    for index in range(3):  # another client on the same account fills the 3/s bucket
        response = await http.post(folders, json={"data": {"name": f"other-{index}"}},
                                   headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 201
    seen.clear()
    for index in range(3):
        await client.create_folder(ref.account_id, ref.root_folder_id, f"SQ{index}")
    assert [r.status_code for r in seen] == [429, 201, 201, 201]  # only the first call, which knew nothing
    assert "retry-after" not in seen[0].headers
    assert 1 / 3 <= time.slept[0] <= 2 / 3  # one slot, not the window
