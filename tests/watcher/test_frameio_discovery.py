"""postflow.frameio: discovery through every account, workspace and project page, and the
version-stack reorder call; typed results built from JSON bodies exactly as the SDK's models."""

import asyncio
import json
import logging

import httpx
import pytest
from frameio.types import AssetWithIncludes, ProjectWithIncludes
from pydantic import TypeAdapter

from postflow.core.config import FrameioConfig
from postflow.frameio import ProjectRef, RateLimited, RequestFailed
from postflow.testing.frameio_mock import html, mock_client

STAMP = "2025-01-01T00:00:00Z"
ACCOUNTS = [[{"id": "acc-z", "display_name": "Zeta"}], [{"id": "acc-a", "display_name": "alpha"}]]
WORKSPACES = {"acc-a": [[{"id": "ws-m", "name": "Main"}, {"id": "ws-r", "name": "archive"}]],
              "acc-z": [[{"id": "ws-z", "name": "Only"}]]}
PROJECTS = {"ws-m": [[{"id": "p-1", "name": "Zulu"}, {"id": "p-2", "name": "Beta"}]],
            "ws-r": [[{"id": "p-3", "name": "Gamma"}], [{"id": "p-4", "name": "delta"}]],
            "ws-z": [[{"id": "p-5", "name": "Alpha"}]]}


def account(item):
    return {**item, "created_at": STAMP, "updated_at": STAMP, "roles": ["owner"], "storage_usage": 0}


def workspace(item, account_id):
    return {**item, "account_id": account_id, "created_at": STAMP, "updated_at": STAMP}


def project(item, workspace_id):
    return {**item, "workspace_id": workspace_id, "root_folder_id": f"root-{item['id']}", "status": "active",
            "storage": 0, "view_url": f"https://next.frame.io/project/{item['id']}", "created_at": STAMP,
            "updated_at": STAMP}


def page(request, pages, build):
    """One page of a listing; the cursor is the page's index."""
    index = int(request.url.params.get("after") or 0)
    following = f"{request.url.path}?after={index + 1}" if index + 1 < len(pages) else None
    return httpx.Response(200, json={"data": [build(item) for item in pages[index]], "links": {"next": following}})


def frameio(request: httpx.Request) -> httpx.Response:
    """The listings and shows discovery uses, over ACCOUNTS/WORKSPACES/PROJECTS."""
    parts = request.url.path.strip("/").split("/")[1:]  # after "v4"
    account_of = {ws: acc for acc, pages in WORKSPACES.items() for p in pages for ws in (i["id"] for i in p)}
    match parts:
        case ["accounts"]:
            return page(request, ACCOUNTS, account)
        case ["accounts", account_id, "workspaces"]:
            return page(request, WORKSPACES[account_id], lambda item: workspace(item, account_id))
        case ["accounts", _, "workspaces", workspace_id, "projects"]:
            return page(request, PROJECTS[workspace_id], lambda item: project(item, workspace_id))
        case ["accounts", account_id, "projects", project_id]:
            found = [(ws, i) for ws, pages in PROJECTS.items() for p in pages for i in p
                     if i["id"] == project_id and account_of[ws] == account_id]
            if not found:
                return httpx.Response(404, json={"errors": [{"title": "Not Found", "detail": "no such project"}]})
            return httpx.Response(200, json={"data": project(found[0][1], found[0][0])})
    raise AssertionError(f"unexpected request {request.method} {request.url}")


def pinned(**keys):
    return FrameioConfig(api_base_url="http://frameio.test", **keys)


@pytest.mark.asyncio
async def test_discovery_pages_through_everything_picks_the_first_by_name_and_says_so(caplog):
    caplog.set_level(logging.INFO, logger="postflow.frameio_discovery")
    client, seen = mock_client(frameio)
    chosen = await client.project()
    assert chosen == ProjectRef("acc-a", "p-4", "root-p-4", "alpha", "ws-r", "archive", "delta", candidates=5)
    assert sum(1 for r in seen if r.url.path == "/v4/accounts") == 2  # both pages of accounts
    (line,) = [r.getMessage() for r in caplog.records]
    assert "project 'delta' (p-4) in workspace 'archive' (ws-r) of account 'alpha' (acc-a)" in line
    assert "of 5 projects in 2 account(s)" in line and "frameio.account_id and frameio.project_id" in line
    calls = len(seen)
    assert await client.project() is chosen and len(seen) == calls  # discovered once


@pytest.mark.asyncio
async def test_a_pinned_project_is_found_in_whichever_account_holds_it(caplog):
    caplog.set_level(logging.INFO, logger="postflow.frameio_discovery")
    client, _ = mock_client(frameio, config=pinned(project_id="p-5"))
    chosen = await client.project()
    assert (chosen.account_id, chosen.project_id, chosen.workspace_name, chosen.candidates) == ("acc-z", "p-5",
                                                                                              "Only", 1)
    assert "pin" not in caplog.records[0].getMessage()


@pytest.mark.asyncio
async def test_account_and_project_pinned_need_no_walk_through_every_workspace():
    client, seen = mock_client(frameio, config=pinned(account_id="acc-a", project_id="p-2"))
    chosen = await client.project()
    assert chosen == ProjectRef("acc-a", "p-2", "root-p-2", "alpha", "ws-m", "Main", "Beta")
    assert {r.url.path for r in seen} == {"/v4/accounts", "/v4/accounts/acc-a/projects/p-2",
                                          "/v4/accounts/acc-a/workspaces"}


@pytest.mark.asyncio
async def test_a_pinned_account_limits_discovery_to_it():
    client, _ = mock_client(frameio, config=pinned(account_id="acc-z"))
    assert (await client.project()).project_id == "p-5"


@pytest.mark.asyncio
@pytest.mark.parametrize(("keys", "message"), [
    ({"account_id": "acc-x"}, "frameio.account_id 'acc-x' is not an account"),
    ({"project_id": "p-9"}, "frameio.project_id 'p-9' is not a project of any account"),
    ({"account_id": "acc-z", "project_id": "p-1"}, "frameio.project_id 'p-1' is not a project of account 'Zeta'"),
])
async def test_a_pin_that_matches_nothing_names_its_key(keys, message):
    client, _ = mock_client(frameio, config=pinned(**keys))
    with pytest.raises(RequestFailed, match=message):
        await client.project()


@pytest.mark.asyncio
async def test_concurrent_callers_share_one_discovery_and_a_failed_one_is_tried_afresh():
    answers = iter([html(429, {"Retry-After": "0"})] * 6)

    def flaky(request):
        return next(answers, None) or frameio(request)

    client, seen = mock_client(flaky, rate_limit_retries=5)
    with pytest.raises(RateLimited):
        await client.project()
    first = await asyncio.gather(*(client.project() for _ in range(5)))
    assert all(ref is first[0] for ref in first)
    assert sum(1 for r in seen if r.url.path == "/v4/accounts") == 6 + 2  # the failed try, then one discovery


FILE = {"type": "file", "id": "f-new", "name": "clip.mov", "file_size": 518, "status": "uploaded",
        "project_id": "p-2", "parent_id": "vs-1", "view_url": "https://next.frame.io/project/p-2/view/f-new",
        "media_type": "video/quicktime", "created_at": STAMP, "updated_at": STAMP}


@pytest.mark.asyncio
async def test_reorder_puts_the_file_on_top_through_the_client():
    client, seen = mock_client([html(401), html(429, {"Retry-After": "0"}),
                                httpx.Response(200, json={"data": [FILE]})])
    assert await client.reorder_version_stack("acc-a", "vs-1", "f-new") is None
    assert len(seen) == 3
    for request in seen:
        assert request.method == "PATCH" and request.url.path == "/v4/accounts/acc-a/version_stacks/vs-1/versions"
        assert json.loads(request.content) == {"data": {"target_file_id": "f-new", "move_to": "top"}}
        assert request.headers["content-type"] == "application/json"
    assert [r.headers["authorization"] for r in seen] == ["Bearer token-1", "Bearer token-2", "Bearer token-2"]


@pytest.mark.asyncio
async def test_reorder_refused_is_a_readable_failure():
    client, _ = mock_client([httpx.Response(422, json={"errors": [{"detail": "cannot reorder"}]})])
    with pytest.raises(RequestFailed, match="reorder version stack: HTTP 422 cannot reorder") as caught:
        await client.reorder_version_stack("acc-a", "vs-1", "f-new")
    assert caught.value.status == 422


@pytest.mark.asyncio
async def test_typed_calls_return_the_sdks_models_built_from_the_json_body():
    def answer(request):
        if request.url.path.endswith("/children"):
            return httpx.Response(200, json={"data": [FILE], "links": {"next": None}})
        return frameio(request)

    client, _ = mock_client(answer)
    shown = await client.show_project("acc-a", "p-2")
    assert shown == ProjectWithIncludes.model_validate(project(PROJECTS["ws-m"][0][1], "ws-m"))  # strict
    assert shown.root_folder_id == "root-p-2" and shown.created_at.year == 2025
    listed = await client.list_projects("acc-a", "ws-r")
    assert listed == [ProjectWithIncludes.model_validate(project(item, "ws-r")) for p in PROJECTS["ws-r"] for item in p]
    children = await client.list_version_stack("acc-a", "vs-1")
    assert children == TypeAdapter(list[AssetWithIncludes]).validate_python([FILE])
    assert children[0].type == "file" and children[0].file_size == 518
