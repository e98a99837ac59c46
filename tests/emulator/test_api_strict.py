"""Frame.io v4 as strict as documented, and switchable where it is not: a leaky bucket per
account with `x-ratelimit-*` headers and no `Retry-After` unless a fault asks; 401/429/5xx
answered by an edge in HTML under the `error_body` fault; where a file moved into a version
stack lands (head or bottom) and the experimental reorder call; the call counter."""

import uuid

import httpx
import pytest
from frameio.core.api_error import ApiError
from frameio.errors import TooManyRequestsError, UnauthorizedError
from frameio.files import FileMoveParamsData
from frameio.folders import FolderCreateParamsData
from frameio.types import VersionStackResponse
from frameio.version_stacks import VersionStackCreateParamsData

from postflow.emulator.options import DEV_CLIENT_ID, EmulatorOptions
from postflow.testing.emulator import frameio_calls, set_faults
from postflow.testing.frameio_sdk import NO_RETRIES
from tests.emulator.test_frameio_api import new_file


async def create_folder(http: httpx.AsyncClient, emulator, seeded: dict, token: str) -> httpx.Response:
    return await http.post(f"{emulator.url}/v4/accounts/{seeded['account_id']}/folders/{seeded['root_folder_id']}"
                           "/folders", json={"data": {"name": "f"}}, headers={"Authorization": f"Bearer {token}"})


def rate(response: httpx.Response) -> tuple[int, str, str, str, str | None]:
    headers = response.headers
    return (response.status_code, headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"],
            headers["x-ratelimit-window"], headers.get("retry-after"))


@pytest.mark.asyncio
async def test_the_leaky_bucket_drains_at_its_rate_and_says_so_on_every_answer(http, emulator, seeded, token,
                                                                               frozen_clock):
    answers = [rate(await create_folder(http, emulator, seeded, token)) for _ in range(4)]
    assert answers == [(201, "3", "2", "1000", None), (201, "3", "1", "1000", None), (201, "3", "0", "1000", None),
                       (429, "3", "0", "1000", None)]
    frozen_clock[0] += 1 / 3  # one call's worth drains
    assert [rate(await create_folder(http, emulator, seeded, token))[:3] for _ in range(2)] == [
        (201, "3", "0"), (429, "3", "0")]
    frozen_clock[0] += 10  # a full bucket's worth and more: empty, not negative
    assert [rate(await create_folder(http, emulator, seeded, token))[2] for _ in range(3)] == ["2", "1", "0"]


@pytest.mark.asyncio
async def test_per_minute_endpoints_report_a_minute_window_and_refused_tokens_do_not_count(http, emulator, seeded,
                                                                                           token, frozen_clock):
    url = f"{emulator.url}/v4/accounts/{seeded['account_id']}/folders/{seeded['root_folder_id']}/children"
    refused = await http.get(url, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and "x-ratelimit-limit" not in refused.headers
    listed = [rate(await http.get(url, headers={"Authorization": f"Bearer {token}"})) for _ in range(2)]
    assert listed == [(200, "100", "99", "60000", None), (200, "100", "98", "60000", None)]


@pytest.mark.asyncio
async def test_retry_after_on_a_429_only_when_a_fault_asks(http, emulator, seeded, token, frozen_clock):
    for _ in range(3):
        await create_folder(http, emulator, seeded, token)
    assert rate(await create_folder(http, emulator, seeded, token))[4] is None
    await set_faults(emulator.url, {"retry_after": True})
    assert rate(await create_folder(http, emulator, seeded, token))[4] == "1", "the bucket's real wait, rounded up"
    await set_faults(emulator.url, {"retry_after": 7})
    assert rate(await create_folder(http, emulator, seeded, token))[4] == "7"
    await set_faults(emulator.url, {"retry_after": None})
    assert rate(await create_folder(http, emulator, seeded, token))[4] is None


@pytest.mark.asyncio
async def test_a_burst_carries_retry_after_only_when_it_names_one(sdk, emulator):
    await set_faults(emulator.url, {"rate_limit_burst": {"count": 1, "path": "/v4/me"}})
    with pytest.raises(TooManyRequestsError) as plain:
        await sdk.users.show(request_options=NO_RETRIES)
    assert "retry-after" not in plain.value.headers and plain.value.headers["x-ratelimit-window"] == "1000"
    await set_faults(emulator.url, {"rate_limit_burst": {"count": 1, "path": "/v4/me"}, "retry_after": 4})
    with pytest.raises(TooManyRequestsError) as told:
        await sdk.users.show(request_options=NO_RETRIES)
    assert told.value.headers["retry-after"] == "4"


def is_edge_page(response: httpx.Response) -> bool:
    return response.headers["content-type"].startswith("text/html") and response.text.startswith("<html>")


@pytest.mark.asyncio
async def test_error_body_html_turns_401_429_and_5xx_into_an_edges_page(sdk, http, emulator, seeded, token,
                                                                       frozen_clock):
    await set_faults(emulator.url, {"error_body": "html"})
    v4 = f"{emulator.url}/v4"
    unauthorized = await http.get(f"{v4}/me", headers={"Authorization": "Bearer nope"})
    for _ in range(3):
        assert (await create_folder(http, emulator, seeded, token)).status_code == 201, "successes stay JSON"
    limited = await create_folder(http, emulator, seeded, token)
    not_found = await http.get(f"{v4}/accounts/{seeded['account_id']}/files/{uuid.uuid4()}",
                               headers={"Authorization": f"Bearer {token}"})
    await set_faults(emulator.url, {"server_error": {"status": 502, "path": "/v4/me"}})
    gateway = await http.get(f"{v4}/me", headers={"Authorization": f"Bearer {token}"})
    await set_faults(emulator.url, {"rate_limit_burst": {"count": 1, "path": "/v4/me"}})
    burst = await http.get(f"{v4}/me", headers={"Authorization": f"Bearer {token}"})
    ims = await http.post(f"{emulator.url}/ims/token/v3", data={"grant_type": "client_credentials"},
                          auth=(DEV_CLIENT_ID, "wrong"))
    for response, status in ((unauthorized, 401), (limited, 429), (gateway, 502), (burst, 429), (ims, 401)):
        assert response.status_code == status and is_edge_page(response), response.text
        assert f"{status} " in response.text and int(response.headers["content-length"]) == len(response.content)
    assert limited.headers["x-ratelimit-remaining"] == "0", "the headers are kept"
    assert ims.headers["www-authenticate"] == 'Basic realm="ims"'
    assert not_found.status_code == 404 and not_found.json()["errors"], "other errors stay JSON"

    with pytest.raises(ApiError) as raw:  # the SDK cannot type a non-JSON 401: the product must read the status
        await sdk.users.show(request_options={**NO_RETRIES, "additional_headers": {"Authorization": "Bearer x"}})
    assert raw.value.status_code == 401 and not isinstance(raw.value, UnauthorizedError)
    await set_faults(emulator.url, {"error_body": None})
    again = await http.get(f"{v4}/me", headers={"Authorization": "Bearer nope"})
    assert again.status_code == 401 and again.json()["errors"][0]["title"] == "Unauthorized"


async def stack_of_three(sdk, seeded) -> tuple[str, str, str, str]:
    """v1 and v2 stacked (v2 the head), then v3 moved in: (stack id, v1, v2, v3)."""
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    v1, v2, v3 = [await new_file(sdk, seeded, root, f"shot_v00{n}.mov") for n in (1, 2, 3)]
    stack = await sdk.version_stacks.create(account_id, root, data=VersionStackCreateParamsData(file_ids=[v1, v2]))
    await sdk.files.move(account_id, v3, data=FileMoveParamsData(parent_id=stack.data.id))
    return stack.data.id, v1, v2, v3


async def stack_order(sdk, seeded, stack_id: str) -> tuple[str, list[str], str]:
    """The head, the children as listed (head first) and the stack's name."""
    account_id = seeded["account_id"]
    shown = await sdk.version_stacks.show(account_id, stack_id)
    listed = await sdk.version_stacks.index(account_id, stack_id)
    return shown.data.head_version.id, [child.id for child in listed.items], shown.data.name


@pytest.mark.asyncio
async def test_a_moved_file_lands_on_top_by_default_or_at_the_bottom_by_fault(sdk, emulator, seeded):
    stack_id, v1, v2, v3 = await stack_of_three(sdk, seeded)
    assert await stack_order(sdk, seeded, stack_id) == (v3, [v3, v2, v1], "shot_v003.mov")
    await set_faults(emulator.url, {"version_stack_placement": "bottom"})
    v4 = await new_file(sdk, seeded, seeded["root_folder_id"], "shot_v004.mov")
    await sdk.files.move(seeded["account_id"], v4, data=FileMoveParamsData(parent_id=stack_id))
    assert await stack_order(sdk, seeded, stack_id) == (v3, [v3, v2, v1, v4], "shot_v003.mov")


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(version_stack_placement="bottom", transcode_delay_s=0.3)])
async def test_the_placement_is_a_start_option(sdk, seeded):
    stack_id, v1, v2, v3 = await stack_of_three(sdk, seeded)
    assert await stack_order(sdk, seeded, stack_id) == (v2, [v2, v1, v3], "shot_v002.mov")


@pytest.mark.asyncio
async def test_the_experimental_reorder_call_moves_a_version_to_the_top_or_the_bottom(sdk, http, emulator, seeded,
                                                                                   token, responses):
    await set_faults(emulator.url, {"version_stack_placement": "bottom"})
    stack_id, v1, v2, v3 = await stack_of_three(sdk, seeded)
    url = f"{emulator.url}/v4/accounts/{seeded['account_id']}/version_stacks/{stack_id}/versions"
    auth = {"Authorization": f"Bearer {token}"}

    top = await http.patch(url, json={"data": {"target_file_id": v3, "move_to": "top"}}, headers=auth)
    assert top.status_code == 200
    stack = responses.parse(VersionStackResponse).data
    assert stack.id == stack_id and stack.head_version.id == v3 and stack.name == "shot_v003.mov"
    assert await stack_order(sdk, seeded, stack_id) == (v3, [v3, v2, v1], "shot_v003.mov")

    bottom = await http.patch(url, json={"data": {"target_file_id": v3, "move_to": "bottom"}}, headers=auth)
    assert bottom.status_code == 200 and bottom.json()["data"]["head_version"]["id"] == v2
    assert await stack_order(sdk, seeded, stack_id) == (v2, [v2, v1, v3], "shot_v002.mov")

    outsider = await new_file(sdk, seeded, seeded["root_folder_id"], "other.mov")
    for body, status in [({"target_file_id": v3, "move_to": "middle"}, 422),
                         ({"target_file_id": outsider, "move_to": "top"}, 422), ({"move_to": "top"}, 422)]:
        assert (await http.patch(url, json={"data": body}, headers=auth)).status_code == status, body
    unknown = url.replace(stack_id, str(uuid.uuid4()))
    assert (await http.patch(unknown, json={"data": {"target_file_id": v3, "move_to": "top"}},
                             headers=auth)).status_code == 404


@pytest.mark.asyncio
async def test_frameio_calls_are_counted_by_route_and_reset(sdk, http, emulator, seeded):
    await frameio_calls(emulator.url, reset=True)
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    await sdk.folders.create(account_id, root, data=FolderCreateParamsData(name="a"))
    await sdk.folders.create(account_id, root, data=FolderCreateParamsData(name="b"))
    await sdk.folders.index(account_id, root)
    await http.get(f"{emulator.url}/v4/me")  # refused (no token), still a call
    await http.get(f"{emulator.url}/_emulator/files")  # not Frame.io
    counted = await frameio_calls(emulator.url, reset=True)
    assert counted == {"total": 4, "calls": {
        "GET /v4/accounts/{account_id}/folders/{folder_id}/children": 1,
        "GET /v4/me": 1,
        "POST /v4/accounts/{account_id}/folders/{folder_id}/folders": 2}}
    assert await frameio_calls(emulator.url) == {"total": 0, "calls": {}}
