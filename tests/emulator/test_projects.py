"""Projects created by name as Frame.io v4 does (`POST …/workspaces/{id}/projects`, through the
official SDK): each gets its own root folder, same names are allowed, the workspace lists them,
bad bodies are refused with a pointer, and a reset forgets them."""

import uuid

import httpx
import pytest
from frameio.errors import NotFoundError, UnprocessableEntityError
from frameio.folders import FolderCreateParamsData
from frameio.projects import ProjectParamsData
from frameio.types import FolderAssetsWithIncludesResponse, ProjectResponse, ProjectsWithIncludesResponse

from postflow.testing.frameio_sdk import NO_RETRIES


def projects_url(emulator, seeded: dict, workspace_id: str | None = None) -> str:
    return (f"{emulator.url}/v4/accounts/{seeded['account_id']}/workspaces/"
            f"{workspace_id or seeded['workspace_id']}/projects")


@pytest.mark.asyncio
async def test_a_project_created_by_name_has_its_own_root_folder_and_is_listed(emulator, sdk, responses, seeded,
                                                                                http):
    account_id, workspace_id = seeded["account_id"], seeded["workspace_id"]
    created = []
    for _ in range(2):
        project = await sdk.projects.create(account_id, workspace_id, data=ProjectParamsData(name="Show One"))
        assert responses.last.status_code == 201
        assert (responses.last.headers["x-ratelimit-limit"], responses.last.headers["x-ratelimit-window"]) == (
            "10", "60000")
        parsed = responses.parse(ProjectResponse).data
        assert (parsed.name, parsed.workspace_id, parsed.status, parsed.storage) == ("Show One", workspace_id,
                                                                                      "active", 0)
        created.append(project.data)
    assert created[0].id != created[1].id and created[0].root_folder_id != created[1].root_folder_id, \
        "a second project of the same name is a new project"

    root = await sdk.folders.show(account_id, created[1].root_folder_id)
    assert (root.data.project_id, root.data.parent_id) == (created[1].id, None)
    await sdk.folders.create(account_id, root.data.id, data=FolderCreateParamsData(name="SQ01"))
    await sdk.folders.index(account_id, root.data.id)
    assert [f.name for f in responses.parse(FolderAssetsWithIncludesResponse).data] == ["SQ01"]
    await sdk.folders.index(account_id, created[0].root_folder_id)
    assert responses.parse(FolderAssetsWithIncludesResponse).data == [], "each project has its own tree"

    await sdk.projects.index(account_id, workspace_id)
    listed = responses.parse(ProjectsWithIncludesResponse).data
    assert [(p.id, p.name) for p in listed] == [(seeded["project_id"], "PostFlow Deliveries"),
                                                (created[0].id, "Show One"), (created[1].id, "Show One")]
    assert listed[1].owner.email == seeded["user"]["email"], "the caller owns what they created"
    shown = await sdk.projects.show(account_id, created[0].id)
    assert shown.data.root_folder_id == created[0].root_folder_id

    reported = emulator.state.seeded()["accounts"][0]["workspaces"][0]["projects"]
    assert [(p["id"], p["root_folder_id"], p["seeded"]) for p in reported] == [
        (seeded["project_id"], seeded["root_folder_id"], True), (created[0].id, created[0].root_folder_id, False),
        (created[1].id, created[1].root_folder_id, False)]
    after_reset = (await http.post(f"{emulator.url}/_emulator/reset")).json()
    assert [p["id"] for p in after_reset["accounts"][0]["workspaces"][0]["projects"]] == [seeded["project_id"]]
    assert emulator.state.store.assets.keys() == {seeded["root_folder_id"]}, "their folders went with them"


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "pointer"), [
    ({"data": {}}, "/data/name"),
    ({"data": {"name": "   "}}, "/data/name"),
    ({"data": {"name": 7}}, "/data/name"),
    ({"data": {"name": "Show", "restricted": "yes"}}, "/data/restricted"),
    ({"name": "Show"}, "/data"),
])
async def test_a_bad_project_body_is_refused_with_a_pointer(emulator, http, seeded, token, body, pointer):
    answer = await http.post(projects_url(emulator, seeded), json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["source"]["pointer"] == pointer
    assert [p["name"] for p in emulator.state.seeded()["accounts"][0]["workspaces"][0]["projects"]] == [
        "PostFlow Deliveries"], "nothing was created"


@pytest.mark.asyncio
async def test_malformed_requests_and_unknown_workspaces_are_refused(emulator, sdk, http, seeded, token):
    auth = {"Authorization": f"Bearer {token}"}
    not_json = await http.post(projects_url(emulator, seeded), content=b"{name", headers=auth)
    assert not_json.status_code == 400
    with pytest.raises(UnprocessableEntityError):
        await sdk.projects.create(seeded["account_id"], seeded["workspace_id"], data=ProjectParamsData(name=""),
                                  request_options=NO_RETRIES)
    with pytest.raises(NotFoundError) as missing:
        await sdk.projects.create(seeded["account_id"], str(uuid.uuid4()), data=ProjectParamsData(name="Show"),
                                  request_options=NO_RETRIES)
    assert "Workspace" in missing.value.body.errors[0].detail
    restricted = await sdk.projects.create(seeded["account_id"], seeded["workspace_id"],
                                           data=ProjectParamsData(name="Locked", restricted=True))
    assert restricted.data.restricted is True


@pytest.mark.asyncio
async def test_project_creation_is_limited_to_ten_a_minute_per_account(emulator, http, seeded, token, frozen_clock):
    async def create() -> httpx.Response:
        return await http.post(projects_url(emulator, seeded), json={"data": {"name": "Show"}},
                               headers={"Authorization": f"Bearer {token}"})

    statuses = [(await create()).status_code for _ in range(11)]
    assert statuses == [201] * 10 + [429]
    frozen_clock[0] += 6  # one call's worth drains
    assert (await create()).status_code == 201
