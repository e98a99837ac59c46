"""The seed: what a seed file describes, how a bad one is refused (naming the key), and
`python -m postflow.emulator --seed FILE` serving it, every id reported by `/_emulator/state`."""

import asyncio
import json
import signal

import httpx
import pytest

from postflow.emulator.options import EmulatorOptions
from postflow.emulator.seed import (
    DEFAULT_SEED,
    AccountSpec,
    ClientSpec,
    ProjectSpec,
    SeedSpec,
    UserSpec,
    WorkspaceSpec,
    seed_from_json,
)
from postflow.emulator.server import main, options_from, parse_args
from postflow.testing.emulator import client_credentials_token
from postflow.testing.ports import free_port
from tests.emulator.test_server import BANNER_LINES, start

SEED_FILE = {
    "users": [{"name": "Ann", "email": "ann@a.test", "id": "user-ann", "groups": ["admins", "editors"]},
              {"name": "Bob", "email": "bob@b.test"}],
    "accounts": [
        {"name": "Studio A", "id": "account-a", "members": ["ann@a.test"],
         "workspaces": [{"name": "Shows", "id": "workspace-a", "projects": [
             {"name": "Show", "id": "project-a1", "root_folder_id": "root-a1"}, {"name": "Show"}]}]},
        {"name": "Studio B", "members": ["bob@b.test"], "workspaces": [{"name": "Empty"}]},
    ],
    "clients": [{"client_id": "studio-b", "client_secret": "studio-b-secret", "technical_user": "bob@b.test"}],
}


def test_a_seed_file_describes_users_accounts_workspaces_projects_and_clients():
    assert seed_from_json(SEED_FILE) == SeedSpec(
        users=(UserSpec("Ann", "ann@a.test", "user-ann", ("admins", "editors")), UserSpec("Bob", "bob@b.test")),
        accounts=(AccountSpec("Studio A", "account-a", ("ann@a.test",), (WorkspaceSpec("Shows", "workspace-a", (
            ProjectSpec("Show", "project-a1", "root-a1"), ProjectSpec("Show"))),)),
                  AccountSpec("Studio B", None, ("bob@b.test",), (WorkspaceSpec("Empty"),))),
        clients=(ClientSpec("studio-b", "studio-b-secret", None, "bob@b.test"),))
    minimal = seed_from_json({"users": [{"name": "U", "email": "u@x.test"}], "accounts": [{"name": "A"}]})
    assert minimal.accounts[0].members is None and minimal.clients == (), "members default to every user"
    assert EmulatorOptions().seed == DEFAULT_SEED and len(DEFAULT_SEED.users) == len(DEFAULT_SEED.accounts) == 1
    both = changed("accounts.0.members", ["ann@a.test", "bob@b.test"])
    assert seed_from_json(both).accounts[0].admins is None, "only the owner by default"
    both["accounts"][0]["admins"] = ["bob@b.test"]
    assert seed_from_json(both).accounts[0].admins == ("bob@b.test",)


def changed(path: str, value: object) -> dict:
    """SEED_FILE with the value at `path` (dotted keys and list indexes) replaced; None deletes it."""
    seed = json.loads(json.dumps(SEED_FILE))
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    node = seed
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return seed


@pytest.mark.parametrize(("seed", "message"), [
    ([], "the seed: must be a JSON object"),
    (changed("users", None), "users: required"),
    (changed("users", []), "users: at least one user is required"),
    (changed("accounts", {}), "accounts: must be a JSON list"),
    (changed("accounts.0.name", None), "accounts[0].name: required"),
    (changed("accounts.0.workspaces.0.projects.1.name", ""),
     "accounts[0].workspaces[0].projects[1].name: must be a non-empty string"),
    (changed("accounts.1.colour", "red"), "accounts[1].colour: unknown key"),
    (changed("accounts.0.members.0", "nobody@x.test"), "accounts[0].members[0]: no user has the e-mail nobody@x.test"),
    (changed("users.1.email", "ANN@a.test"), "users[1].email: ann@a.test is used by another user"),
    (changed("clients.0.technical_user", "carol@c.test"), "clients[0].technical_user: no user has the e-mail"),
    (changed("clients.0.client_secret", None), "clients[0].client_secret: required"),
    (changed("users.0.groups", "admins"), "users[0].groups: must be a JSON list"),
    (changed("users.0.groups.1", 7), "users[0].groups[1]: must be a non-empty string"),
    (changed("accounts.0.admins", ["bob@b.test"]), "accounts[0].admins[0]: bob@b.test is not a member of the account"),
    (changed("accounts.1.id", "project-a1"),
     "accounts[1].id: project-a1 is already the id of accounts[0].workspaces[0].projects[0].id"),
])
def test_a_bad_seed_is_refused_naming_the_key(seed, message):
    with pytest.raises(ValueError) as refused:
        seed_from_json(seed)
    assert message in str(refused.value)


def test_the_seed_option_reads_the_file_and_names_it_when_it_is_bad(tmp_path, capsys):
    good, bad = tmp_path / "seed.json", tmp_path / "bad.json"
    good.write_text(json.dumps(SEED_FILE))
    bad.write_text(json.dumps(changed("accounts.0.name", 5)))
    assert options_from(parse_args(["--seed", str(good)])).seed == seed_from_json(SEED_FILE)
    assert main(["--seed", str(bad)]) == 2
    assert f"--seed {bad}: accounts[0].name: must be a non-empty string" in capsys.readouterr().err
    assert main(["--seed", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot be read" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert main(["--seed", str(tmp_path / "broken.json")]) == 2
    assert "broken.json: Expecting property name" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_the_process_serves_its_seed_and_reports_every_id(tmp_path):
    seed_path = tmp_path / "seed.json"
    seed_path.write_text(json.dumps(SEED_FILE))
    port = free_port()
    process = await start("--port", str(port), "--seed", str(seed_path))
    try:
        lines = [await asyncio.wait_for(process.stdout.readline(), 10) for _ in range(BANNER_LINES + 1)]
        assert b"2 users, 2 accounts, 2 projects, 2 clients" in lines[-1]
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as http:
            state = (await http.get(f"{url}/_emulator/state")).json()
            token = await client_credentials_token(url, client_id="studio-b", client_secret="studio-b-secret")
            listed = (await http.get(f"{url}/v4/accounts", headers={"Authorization": f"Bearer {token}"})).json()
        assert (state["account_id"], state["workspace_id"], state["project_id"], state["root_folder_id"],
                state["user"]["id"], state["client_id"]) == (
            "account-a", "workspace-a", "project-a1", "root-a1", "user-ann", "postflow-dev")
        studio_a, studio_b = state["accounts"]
        assert [(p["id"], p["name"], p["seeded"]) for p in studio_a["workspaces"][0]["projects"]][0] == (
            "project-a1", "Show", True)
        assert studio_a["workspaces"][0]["projects"][1]["root_folder_id"], "ids left out are made up"
        assert (studio_b["members"], studio_b["workspaces"][0]["projects"]) == (["bob@b.test"], [])
        assert [u["email"] for u in state["users"]] == ["ann@a.test", "bob@b.test"]
        assert state["clients"] == [
            {"client_id": "postflow-dev", "user": "ann@a.test", "technical_user": "ann@a.test"},
            {"client_id": "studio-b", "user": "ann@a.test", "technical_user": "bob@b.test"}]
        assert "studio-b-secret" not in json.dumps(state)
        assert [a["id"] for a in listed["data"]] == [studio_b["id"]], "the client acts as its technical user"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
