"""Frame.io v4 as the emulator plays it, through the official SDK: every success body
validates strictly against the SDK's models, every failure raises the SDK's typed error."""

import uuid

import httpx
import pytest
from frameio import AsyncFrameio
from frameio.errors import (
    ConflictError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from frameio.files import FileCreateLocalUploadParamsData, FileMoveParamsData
from frameio.folders import FolderCreateParamsData
from frameio.types import (
    AccountsResponse,
    FileResponse,
    FolderAssetsWithIncludesResponse,
    FolderResponse,
    FolderWithIncludesResponse,
    ProfileResponse,
    ProjectsWithIncludesResponse,
    ProjectWithIncludesResponse,
    VersionStackAssetsWithIncludesResponse,
    VersionStackWithIncludesResponse,
    WorkspacesWithIncludesResponse,
)
from frameio.version_stacks import VersionStackCreateParamsData

from postflow.emulator.options import EmulatorOptions
from postflow.testing.emulator import client_credentials_token
from postflow.testing.frameio_sdk import NO_RETRIES


async def new_file(sdk: AsyncFrameio, seeded: dict, folder_id: str, name: str, size: int = 1000) -> str:
    """A file created by local upload (no bytes needed to exist): its id."""
    created = await sdk.files.create_local_upload(seeded["account_id"], folder_id,
                                                  data=FileCreateLocalUploadParamsData(name=name, file_size=size))
    return created.data.id


@pytest.mark.asyncio
async def test_discovery_calls_parse_into_the_sdk_models(sdk, responses, seeded):
    account_id = seeded["account_id"]
    profile = await sdk.users.show()
    assert responses.parse(ProfileResponse).data.id == profile.data.id == seeded["user"]["id"]
    accounts = await sdk.accounts.index()
    assert [a.id for a in responses.parse(AccountsResponse).data] == [account_id] == [a.id for a in accounts.items]
    spaces = await sdk.workspaces.index(account_id)
    assert responses.parse(WorkspacesWithIncludesResponse).data[0].id == spaces.items[0].id == seeded["workspace_id"]
    projects = await sdk.projects.index(account_id, seeded["workspace_id"])
    assert responses.parse(ProjectsWithIncludesResponse).data[0].id == projects.items[0].id == seeded["project_id"]
    project = await sdk.projects.show(account_id, seeded["project_id"])
    assert responses.parse(ProjectWithIncludesResponse).data.root_folder_id == seeded["root_folder_id"]
    assert project.data.root_folder_id == seeded["root_folder_id"]
    root = await sdk.folders.show(account_id, seeded["root_folder_id"])
    assert responses.parse(FolderWithIncludesResponse).data.type == root.data.type == "folder"


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(rate_limits=False)])
async def test_folders_are_created_with_duplicate_names_and_listed_page_by_page(sdk, responses, seeded):
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    created = []
    for name in ["SQ01", "SQ01", "SQ02", "SQ03", "SQ04", "SQ05", "SQ06"]:
        folder = await sdk.folders.create(account_id, root, data=FolderCreateParamsData(name=name))
        assert responses.last.status_code == 201
        assert responses.parse(FolderResponse).data.parent_id == root
        created.append(folder.data.id)
    assert len(set(created)) == 7, "a sibling with the same name is a new folder"

    pager = await sdk.folders.index(account_id, root, page_size=3, include_total_count=True)
    first = responses.parse(FolderAssetsWithIncludesResponse)
    assert first.total_count == 7 and len(first.data) == 3
    assert first.links.next.startswith(f"/v4/accounts/{account_id}/folders/{root}/children?after=")
    assert "page_size" not in first.links.next, "links.next carries only the cursor"
    listed = [item.id async for item in pager]
    assert listed == created
    last = responses.parse(FolderAssetsWithIncludesResponse)
    assert last.links.next is None

    files_only = await sdk.folders.index(account_id, root, type="file")
    assert files_only.items == []
    by_name = await sdk.folders.index(account_id, root, sort="name_desc")
    assert [item.name for item in by_name.items] == ["SQ06", "SQ05", "SQ04", "SQ03", "SQ02", "SQ01", "SQ01"]


@pytest.mark.asyncio
async def test_failures_raise_the_sdks_typed_errors(sdk, emulator, http, seeded, token):
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    stranger = AsyncFrameio(base_url=emulator.url, token="not-a-token", httpx_client=http)
    with pytest.raises(UnauthorizedError) as unauthorized:
        await stranger.users.show(request_options=NO_RETRIES)
    assert unauthorized.value.body.errors[0].title == "Unauthorized"
    anonymous = await http.get(f"{emulator.url}/v4/me")
    assert anonymous.status_code == 401 and anonymous.json()["errors"][0]["detail"]

    with pytest.raises(NotFoundError) as missing:
        await sdk.folders.show(account_id, str(uuid.uuid4()), request_options=NO_RETRIES)
    assert "not found" in missing.value.body.errors[0].detail
    with pytest.raises(NotFoundError):
        await sdk.folders.show(str(uuid.uuid4()), root, request_options=NO_RETRIES)
    unknown_route = await http.get(f"{emulator.url}/v4/nothing-here", headers={"Authorization": "Bearer x"})
    assert unknown_route.status_code == 404 and unknown_route.json()["errors"][0]["title"] == "Not Found"

    with pytest.raises(UnprocessableEntityError) as invalid:
        await sdk.folders.create(account_id, root, data=FolderCreateParamsData(name=" "), request_options=NO_RETRIES)
    assert invalid.value.body["errors"][0]["source"]["pointer"] == "/data/name"
    with pytest.raises(UnprocessableEntityError):
        await sdk.files.create_local_upload(account_id, root, data=FileCreateLocalUploadParamsData(
            name="x.mov", file_size=0), request_options=NO_RETRIES)
    not_json = await http.post(f"{emulator.url}/v4/accounts/{account_id}/folders/{root}/folders", content=b"{",
                               headers={"Authorization": f"Bearer {token}"})
    assert not_json.status_code == 400


@pytest.mark.asyncio
async def test_version_stacks_hold_files_oldest_first_with_the_newest_on_top_and_list_head_first(sdk, responses,
                                                                                                 seeded):
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    v1, v2, v3 = [await new_file(sdk, seeded, root, f"shot_v00{n}.mov") for n in (1, 2, 3)]
    stack = await sdk.version_stacks.create(account_id, root, data=VersionStackCreateParamsData(file_ids=[v1, v2]))
    assert responses.last.status_code == 201
    parsed = responses.parse(VersionStackWithIncludesResponse)
    assert parsed.data.head_version.id == stack.data.head_version.id == v2
    assert stack.data.name == "shot_v002.mov"

    children = await sdk.folders.index(account_id, root)
    assert [(c.type, c.id) for c in children.items] == [("file", v3), ("version_stack", stack.data.id)]

    moved = await sdk.files.move(account_id, v3, data=FileMoveParamsData(parent_id=stack.data.id))
    assert responses.parse(FileResponse).data.parent_id == moved.data.parent_id == stack.data.id
    shown = await sdk.version_stacks.show(account_id, stack.data.id)
    assert responses.parse(VersionStackWithIncludesResponse).data.head_version.id == v3
    assert shown.data.name == "shot_v003.mov"
    versions = await sdk.version_stacks.index(account_id, stack.data.id)
    assert responses.parse(VersionStackAssetsWithIncludesResponse).data[0].id == v3
    assert [v.id for v in versions.items] == [v3, v2, v1]

    with pytest.raises(ConflictError):
        await sdk.version_stacks.create(account_id, root, data=VersionStackCreateParamsData(file_ids=[v1, v3]),
                                        request_options=NO_RETRIES)
    with pytest.raises(ConflictError):
        await sdk.files.move(account_id, v3, data=FileMoveParamsData(parent_id=stack.data.id),
                             request_options=NO_RETRIES)
    with pytest.raises(UnprocessableEntityError):
        await sdk.version_stacks.create(account_id, root, data=VersionStackCreateParamsData(file_ids=[v1]),
                                        request_options=NO_RETRIES)
    with pytest.raises(NotFoundError):
        await sdk.version_stacks.show(account_id, str(uuid.uuid4()), request_options=NO_RETRIES)


@pytest.mark.asyncio
async def test_stacking_needs_files_of_that_folder(sdk, seeded):
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    other = (await sdk.folders.create(account_id, root, data=FolderCreateParamsData(name="other"))).data.id
    here, there = await new_file(sdk, seeded, root, "a.mov"), await new_file(sdk, seeded, other, "a.mov")
    with pytest.raises(UnprocessableEntityError) as refused:
        await sdk.version_stacks.create(account_id, root, data=VersionStackCreateParamsData(file_ids=[here, there]),
                                        request_options=NO_RETRIES)
    assert there in refused.value.body["errors"][0]["detail"]
    with pytest.raises(NotFoundError):
        await sdk.version_stacks.create(account_id, str(uuid.uuid4()),
                                        data=VersionStackCreateParamsData(file_ids=[here, there]),
                                        request_options=NO_RETRIES)


@pytest.mark.asyncio
async def test_files_move_between_folders_and_can_be_deleted(sdk, emulator, seeded, http):
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    shots = (await sdk.folders.create(account_id, root, data=FolderCreateParamsData(name="SQ01"))).data.id
    file_id = await new_file(sdk, seeded, root, "take.mov")
    moved = await sdk.files.move(account_id, file_id, data=FileMoveParamsData(parent_id=shots))
    assert moved.data.parent_id == shots
    assert emulator.state.store.folder_path(emulator.state.store.file(file_id)) == "SQ01"
    with pytest.raises(NotFoundError):
        await sdk.files.move(account_id, file_id, data=FileMoveParamsData(parent_id=str(uuid.uuid4())),
                             request_options=NO_RETRIES)
    await sdk.files.delete(account_id, file_id)
    with pytest.raises(NotFoundError):
        await sdk.files.show(account_id, file_id, request_options=NO_RETRIES)
    report = (await http.get(f"{emulator.url}/_emulator/files")).json()  # kept for audits
    assert report["files"] == []
    assert [(f["id"], f["folder_path"], f["upload_complete"]) for f in report["deleted"]] == [(file_id, "SQ01", False)]


# Frame.io's documented limits, per account: (call, limit, window in ms). Each call below fails
# fast (unknown ids or empty bodies) but still counts, as every call does.
def unknown() -> str:
    return str(uuid.uuid4())


LIMITED_CALLS = {
    "remote_upload": (lambda sdk, a, f: sdk.files.create_remote_upload(
        a, unknown(), data={"name": "x", "source_url": "x"}, request_options=NO_RETRIES), 5, 1000),
    "local_upload": (lambda sdk, a, f: sdk.files.create_local_upload(a, unknown(), data={"name": "x", "file_size": 1},
                                                                     request_options=NO_RETRIES), 5, 1000),
    "create_folder": (lambda sdk, a, f: sdk.folders.create(a, unknown(), data={"name": "x"},
                                                           request_options=NO_RETRIES), 3, 1000),
    "show_file": (lambda sdk, a, f: sdk.files.show(a, unknown(), request_options=NO_RETRIES), 10, 1000),
    "upload_status": (lambda sdk, a, f: sdk.files.show_file_upload_status(a, unknown(), request_options=NO_RETRIES),
                      5, 1000),
    "create_version_stack": (lambda sdk, a, f: sdk.version_stacks.create(a, f, data={"file_ids": []},
                                                                         request_options=NO_RETRIES), 10, 60000),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("call", LIMITED_CALLS)
async def test_documented_rate_limits_answer_429_with_rate_headers_and_no_retry_after(sdk, seeded, frozen_clock,
                                                                                      call):
    make_call, limit, window_ms = LIMITED_CALLS[call]
    for n in range(limit):
        with pytest.raises((NotFoundError, UnprocessableEntityError)) as refused:
            await make_call(sdk, seeded["account_id"], seeded["root_folder_id"])
        assert refused.value.headers["x-ratelimit-remaining"] == str(limit - n - 1)
    with pytest.raises(TooManyRequestsError) as limited:
        await make_call(sdk, seeded["account_id"], seeded["root_folder_id"])
    headers = limited.value.headers
    assert headers["x-ratelimit-limit"] == str(limit) and headers["x-ratelimit-remaining"] == "0"
    assert headers["x-ratelimit-window"] == str(window_ms)
    assert "retry-after" not in headers, "Frame.io documents only the x-ratelimit-* headers"
    assert limited.value.body.errors[0].title == "Too Many Requests"


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(rate_limits=False)])
async def test_rate_limits_can_be_switched_off_by_option(sdk, seeded):
    for _ in range(12):
        with pytest.raises(NotFoundError):
            await sdk.files.show(seeded["account_id"], unknown(), request_options=NO_RETRIES)


@pytest.mark.asyncio
async def test_rate_limits_can_be_switched_off_and_on_by_fault(sdk, emulator, http, seeded, frozen_clock):
    (await http.post(f"{emulator.url}/_emulator/faults", json={"rate_limits": False})).raise_for_status()
    for _ in range(4):
        await sdk.folders.create(seeded["account_id"], seeded["root_folder_id"], data=FolderCreateParamsData(name="f"))
    (await http.post(f"{emulator.url}/_emulator/faults", json={"rate_limits": None})).raise_for_status()
    with pytest.raises(TooManyRequestsError):
        for _ in range(4):
            await sdk.folders.create(seeded["account_id"], seeded["root_folder_id"],
                                     data=FolderCreateParamsData(name="f"), request_options=NO_RETRIES)


@pytest.mark.asyncio
async def test_rate_limits_count_per_account_across_tokens(emulator, seeded, frozen_clock):
    async with httpx.AsyncClient() as http:
        for _ in range(3):
            token = await client_credentials_token(emulator.url)
            sdk = AsyncFrameio(base_url=emulator.url, token=token, httpx_client=http)
            await sdk.folders.create(seeded["account_id"], seeded["root_folder_id"],
                                     data=FolderCreateParamsData(name="f"))
        sdk = AsyncFrameio(base_url=emulator.url, token=await client_credentials_token(emulator.url), httpx_client=http)
        with pytest.raises(TooManyRequestsError):
            await sdk.folders.create(seeded["account_id"], seeded["root_folder_id"],
                                     data=FolderCreateParamsData(name="f"), request_options=NO_RETRIES)
