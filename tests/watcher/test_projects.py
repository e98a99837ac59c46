"""Projects by name against the emulator: found in any workspace of the connection's account,
created once when the pipeline allows it (however many jobs ask at once), refused when two
projects share the name or none has it, and by id."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import pytest_asyncio

from postflow.core.config import FrameioConfig
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.seed import AccountSpec, ProjectSpec, SeedSpec, UserSpec, WorkspaceSpec
from postflow.emulator.server import running_emulator
from postflow.frameio import FrameioClient, RequestFailed
from postflow.testing.emulator import StaticTokens, client_credentials_token
from services.watcher.projects import Projects, check_named_projects
from services.watcher.routing import NamedProject

SEED = SeedSpec(
    users=(UserSpec("Studio", "studio@postflow.invalid"),),
    accounts=(AccountSpec("Alpha", workspaces=(
        WorkspaceSpec("B-side", projects=(ProjectSpec("Show A"), ProjectSpec("Twice"))),
        WorkspaceSpec("A-side", projects=(ProjectSpec("Twice"),)))),
        AccountSpec("Beta", workspaces=(WorkspaceSpec("Only", projects=(ProjectSpec("Show A"),)),))))


@pytest_asyncio.fixture
async def emulator():
    async with running_emulator(EmulatorOptions(seed=SEED, rate_limits=False)) as handle:
        yield handle


@pytest_asyncio.fixture
async def projects_of(emulator):
    token = await client_credentials_token(emulator.url)
    async with httpx.AsyncClient(timeout=20) as http:
        async def state() -> dict:
            return (await http.get(f"{emulator.url}/_emulator/state")).json()

        accounts = {account["name"]: account for account in (await state())["accounts"]}

        def make(account: str) -> tuple[Projects, dict]:
            config = FrameioConfig(api_base_url=emulator.url, ims_base_url=emulator.url,
                                   account_id=accounts[account]["id"])
            return Projects(FrameioClient(config, StaticTokens(token), http)), accounts[account]

        make.state = state  # type: ignore[attr-defined]
        yield make


def project_ids(account: dict, name: str) -> list[str]:
    return [p["id"] for space in account["workspaces"] for p in space["projects"] if p["name"] == name]


@pytest.mark.asyncio
async def test_a_name_is_found_in_the_connections_account_only(projects_of):
    alpha, alpha_account = projects_of("Alpha")
    beta, beta_account = projects_of("Beta")
    assert (await alpha.resolve("Show A", create=False)).project_id == project_ids(alpha_account, "Show A")[0]
    found = await beta.resolve("Show A", create=False)
    assert (found.project_id, found.account_id) == (project_ids(beta_account, "Show A")[0], beta_account["id"])


@pytest.mark.asyncio
async def test_a_name_two_projects_share_is_refused_naming_both(projects_of):
    alpha, account = projects_of("Alpha")
    with pytest.raises(RequestFailed) as refused:
        await alpha.resolve("Twice", create=True)
    message = str(refused.value)
    assert "project 'Twice' names 2 projects of account 'Alpha'" in message
    assert all(project_id in message for project_id in project_ids(account, "Twice"))
    assert "give the project's id" in message


@pytest.mark.asyncio
async def test_a_missing_name_is_created_once_for_many_jobs_or_refused_without_create_projects(projects_of):
    alpha, _ = projects_of("Alpha")
    with pytest.raises(RequestFailed, match="no project named 'Show C' in account 'Alpha'.*create_projects"):
        await alpha.resolve("Show C", create=False)
    made = await asyncio.gather(*(alpha.resolve("Show C", create=True) for _ in range(5)))
    assert len({ref.project_id for ref in made}) == 1 and made[0].workspace_name == "A-side"  # first by name
    [account] = [a for a in (await projects_of.state())["accounts"] if a["name"] == "Alpha"]
    assert project_ids(account, "Show C") == [made[0].project_id]
    again, _ = projects_of("Alpha")  # a new watcher finds it rather than making another
    assert (await again.resolve("Show C", create=True)).project_id == made[0].project_id


@pytest.mark.asyncio
async def test_an_id_is_taken_as_an_id(projects_of):
    beta, account = projects_of("Beta")
    [project_id] = project_ids(account, "Show A")
    found = await beta.resolve(project_id, create=False)
    assert (found.project_id, found.project_name) == (project_id, "Show A")


@pytest.mark.asyncio
async def test_at_start_an_ambiguous_or_missing_named_project_is_logged_as_a_config_error(projects_of, caplog):
    alpha, _ = projects_of("Alpha")
    waited: list[str] = []

    async def connected(connection: str) -> None:
        waited.append(connection)

    named = [NamedProject("pipelines[0].project", "default", "Twice", create=True),
             NamedProject("pipelines[1].rules[0].project", "default", "Show A", create=False),
             NamedProject("pipelines[2].project", "default", "Nowhere", create=False),
             NamedProject("pipelines[3].project", "default", "Later", create=True)]
    await check_named_projects(named, lambda connection: alpha, connected)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert waited == ["default"] * 4
    assert len(errors) == 2
    assert errors[0].startswith("config error: pipelines[0].project: project 'Twice' names 2 projects")
    assert errors[1].startswith("config error: pipelines[2].project: no project named 'Nowhere'")
