"""Pipelines end to end, with the real processes and an emulator holding two accounts: two roots
and a routed tree delivered into three projects of two accounts, each file exactly once with
its sha256 and where `postflow route` says; a file no rule matches listed as unrouted; on_start
"new-only" leaving the files already there until `postflow rescan --upload-existing`; and a
reload that adds one pipeline and removes another while a transfer runs."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from postflow.cli.demo import poll_json
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.stack import Stack, running_stack

pytestmark = pytest.mark.slow

USER_B = "producer@clientb.invalid"
ACCOUNT_B = "b0000000-0000-4000-8000-00000000000b"
SEED = {
    "users": [{"name": "PostFlow Demo", "email": "demo@postflow.invalid"}, {"name": "Client B", "email": USER_B}],
    "accounts": [
        {"name": "Studio", "members": ["demo@postflow.invalid"],
         "workspaces": [{"name": "PostFlow", "projects": [{"name": "PostFlow Deliveries"}]}]},
        {"name": "Client B", "id": ACCOUNT_B, "members": [USER_B],
         "workspaces": [{"name": "Dailies", "projects": [{"name": "B Dailies"}]}]},
    ]}


async def connect_as(stack: Stack, connection: str, email: str) -> None:
    """The web-app login of `connection`, signing in to the emulator's IMS as `email`."""
    async with httpx.AsyncClient(timeout=30) as browser:
        started = await browser.get(f"{stack.dashboard_url}/auth/login?{urlencode({'connection': connection})}")
        assert started.status_code in (302, 303, 307), started.text
        authorize = f"{started.headers['location']}&{urlencode({'login_hint': email})}"
        answer = await browser.get(authorize, follow_redirects=True)
        assert answer.status_code == 200, answer.text
        await poll_json(browser, f"{stack.dashboard_url}/api/status", accept=lambda status: any(
            c["connection"] == connection and c["state"] == "connected" for c in status.get("connections", [])))


async def emulator_layout(stack: Stack) -> tuple[dict[str, str], dict[str, str]]:
    """project id → project name, and project id → account name, from the emulator's state."""
    async with httpx.AsyncClient(timeout=10) as http:
        state = (await http.get(f"{stack.emulator_url}/_emulator/state")).json()
    names, accounts = {}, {}
    for account in state["accounts"]:
        for space in account["workspaces"]:
            for project in space["projects"]:
                names[project["id"]], accounts[project["id"]] = project["name"], account["name"]
    return names, accounts


async def delivered(stack: Stack, count: int) -> dict[str, dict]:
    """The emulator's complete files by name, once there are `count` (a name twice fails)."""
    async def complete() -> dict[str, dict] | None:
        files = [f for f in await stack.emulator_files() if f["upload_complete"]]
        names = [f["name"] for f in files]
        assert len(names) == len(set(names)), f"a file delivered twice: {sorted(names)}"
        return {f["name"]: f for f in files} if len(files) >= count else None

    return await wait_for(complete, timeout=90, message=f"{count} files delivered")


def pipelines_config(stack_dir: Path) -> dict:
    roots = {name: stack_dir / name for name in ("SHOWS", "CLIENTB", "ARCHIVE")}
    return {
        "watch": {"root": ""},
        "connections": {"clientb": {"account_id": ACCOUNT_B}},
        "pipelines": [
            {"name": "shows", "root": str(roots["SHOWS"]), "create_projects": True, "folder": "{seq}/{shot}",
             "rules": [{"match": "{show}/OUT/{seq}/{shot}/*", "project": "{show}"}]},
            {"name": "clientb", "root": str(roots["CLIENTB"]), "connection": "clientb", "project": "B Dailies"},
            {"name": "archive", "root": str(roots["ARCHIVE"]), "project": "PostFlow Deliveries",
             "on_start": "new-only"},
        ]}


@pytest.mark.asyncio
async def test_routed_roots_reach_three_projects_of_two_accounts_and_new_only_waits_for_a_rescan(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED))
    for name in ("SHOWS", "CLIENTB", "ARCHIVE"):
        (tmp_path / name).mkdir()
    already = {f"old_{i}.mov": write_media(tmp_path / "ARCHIVE" / f"old_{i}.mov", 3000 + i, seed=i) for i in range(2)}
    async with running_stack(tmp_path, pipelines_config(tmp_path), connect=False,
                             emulator_args=("--no-rate-limits", "--seed", str(seed))) as stack:
        await connect_as(stack, "default", "demo@postflow.invalid")
        await connect_as(stack, "clientb", USER_B)

        files = {
            "SHOWS/ShowA/OUT/SQ01/SH010/a_comp_v001.mov": 4096, "SHOWS/ShowA/OUT/SQ01/SH020/a_comp_v001b.mov": 5000,
            "SHOWS/ShowA/OUT/SQ02/SH010/a_grade.mov": 6001, "SHOWS/ShowB/OUT/SQ09/SH100/b_comp.mov": 7002,
            "SHOWS/ShowB/OUT/SQ09/SH110/b_comp2.mov": 2048, "CLIENTB/day1/b_cam_a.mov": 3003,
            "CLIENTB/b_cam_b.mov": 1500, "ARCHIVE/new_delivery.mov": 2222,
        }
        digests = {Path(rel).name: write_media(tmp_path / rel, size, seed=size) for rel, size in files.items()}
        write_media(tmp_path / "SHOWS/ShowA/README.mov", 100)  # no rule matches it
        got = await delivered(stack, len(files))
        assert set(got) == set(digests)
        names, accounts = await emulator_layout(stack)
        for rel in files:
            name = Path(rel).name
            assert got[name]["sha256"] == digests[name]
            code, out, err = await stack.cli("route", str(tmp_path / rel), "--json")
            assert code == 0, err
            route = json.loads(out)
            project_id = got[name]["project_id"]
            assert names[project_id] == (route["project"] or "PostFlow Deliveries"), (rel, route)
            assert (got[name]["folder_path"] or "") == route["folder"], (rel, route, got[name]["folder_path"])
        assert {accounts[f["project_id"]] for f in got.values()} == {"Studio", "Client B"}
        assert {names[f["project_id"]] for f in got.values()} == {"ShowA", "ShowB", "B Dailies", "PostFlow Deliveries"}
        assert not set(already) & set(got), "on_start new-only uploaded a file that was already there"

        code, out, err = await stack.cli("pipelines", "--json")
        assert code == 0, err
        listed = {p["name"]: p for p in json.loads(out)}
        assert listed["shows"]["unrouted"] == 1 and listed["archive"]["waiting_on_start"] == 2
        assert listed["clientb"]["connection"] == "clientb" and listed["shows"]["jobs_by_state"]["done"] == 5
        async with httpx.AsyncClient(timeout=10) as http:
            unrouted = (await http.get(f"{stack.dashboard_url}/api/unrouted?pipeline=shows")).json()["files"]
        assert [(f["path"], "no rule" in f["reason"]) for f in unrouted] == [("ShowA/README.mov", True)]

        code, out, err = await stack.cli("rescan", "--pipeline", "archive", "--upload-existing")
        assert code == 0 and "2 files present at its first start queued" in out, (out, err)
        got = await delivered(stack, len(files) + 2)
        assert {name: got[name]["sha256"] for name in already} == already



async def jobs_of(stack: Stack, pipeline: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"{stack.dashboard_url}/api/jobs", params={"pipeline": pipeline})
        answer.raise_for_status()
        return answer.json()["jobs"]


@pytest.mark.asyncio
async def test_a_reload_adds_and_removes_pipelines_while_a_transfer_runs_on(tmp_path):
    roots = {name: tmp_path / name for name in ("A", "B", "C")}
    for root in roots.values():
        root.mkdir()
    pipeline = {name.lower(): {"name": name.lower(), "root": str(root)} for name, root in roots.items()}
    overrides = {"watch": {"root": ""}, "pipelines": [pipeline["a"], pipeline["b"]], "transfer": {"mode": "pull"}}
    async with running_stack(tmp_path, overrides) as stack:
        await stack.fault({"pull_bytes_per_s": 256 * 1024})  # 3 MiB, one range: about 12 s
        digest = write_media(roots["A"] / "long.mov", 3 * 1024 * 1024)

        async def transferring() -> bool:
            return [job["state"] for job in await jobs_of(stack, "a")] in (["uploading"], ["verifying"])

        await wait_for(transferring, timeout=30, message="the transfer in pipeline a under way")
        stack.config_path.write_text(json.dumps({**stack.config, "pipelines": [pipeline["a"], pipeline["c"]]}))
        code, out, err = await stack.cli("reload")
        assert code == 0, err
        assert out.splitlines() == ["pipelines added: c", "pipelines removed: b", "pipelines changed: none"]
        [job] = await jobs_of(stack, "a")
        assert job["state"] in ("uploading", "verifying") and job["attempts"] == 1  # not restarted
        await stack.fault({"pull_bytes_per_s": None})

        write_media(roots["C"] / "new_root.mov", 4096)
        write_media(roots["B"] / "gone_root.mov", 4096)
        got = await delivered(stack, 2)
        assert set(got) == {"long.mov", "new_root.mov"} and got["long.mov"]["sha256"] == digest

        async def long_job_done() -> dict | None:
            [job] = await jobs_of(stack, "a")
            return job if job["state"] == "done" else None

        assert (await wait_for(long_job_done, timeout=30, message="the long job done"))["attempts"] == 1
        assert await jobs_of(stack, "b") == []

        stack.config_path.write_text(json.dumps({**stack.config, "pipelines": [
            pipeline["a"], {**pipeline["c"], "root": str(roots["A"] / "inside")}]}))
        code, out, err = await stack.cli("reload")
        assert code == 2 and "pipelines[1].root: " in err, (out, err)
