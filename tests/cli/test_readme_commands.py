"""Every command of README.md's command table ("### Commands"), run exactly as written there
with real arguments, as real processes on free loopback ports.

The table is read from README.md: each scenario below declares the commands it covers, runs
each of them through `Commands` (which refuses a command the table does not have), and checks
at its end that it ran all it declares; one more test checks that the scenarios together
cover the whole table. So neither the table nor these tests can change without the other.
`postflow` is `python -m postflow.cli` of this interpreter (the working tree, not an install)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from postflow.cli.demo import poll_json
from postflow.cli.supervisor import SERVICES
from postflow.core.config import write_config
from postflow.testing.fakes import FakeServices
from postflow.testing.media import write_media
from postflow.testing.mesh import make_certs
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, stop_process
from postflow.testing.stack import FAST_WATCH, Stack, deep_merge, demo_config
from tests.markers.reviews import REVIEWS, SAMPLES

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
PROGRAMS = {"postflow": [sys.executable, "-m", "postflow.cli"], "python": [sys.executable]}
OPTIONAL = re.compile(r"\[([^\]]*)\]")
PLACEHOLDER = re.compile(r"\b[A-Z]+\b")
RUN_TIMEOUT_S = 60.0
START_TIMEOUT_S = 90.0

STACK = {
    "postflow emulator [--host H] [--port P] [--allow-http-loopback-redirect]",
    "postflow route PATH [-c FILE] [--json]",
    "postflow pipelines [--json]",
    "postflow rescan --pipeline NAME [--upload-existing]",
    "postflow reload [-c FILE]",
    "postflow check-config [-c FILE]",
    "python -m services.NAME [-c FILE]",
    "postflow status [--json]",
    "postflow login [--headless]",
    "postflow doctor [-c FILE] [--live]",
    "postflow logout",
    "postflow submit PATH [--wait]",
    "postflow jobs [--json]",
    "postflow cancel ID",
    "postflow retry ID",
    "postflow publish PATH [--ttl S]",
    "postflow up [-c FILE]",
    "postflow audit [-c FILE] [--since WHEN] [--limit N] [--json]",
    "postflow api-keys create NAME --scope SCOPE [-c FILE]",
    "postflow api-keys list [-c FILE] [--json]",
    "postflow api-keys revoke NAME [-c FILE]",
    "postflow webhooks setup [--connection C] [--public-url URL] [--dry-run] [--yes]",
}
MIGRATE = {"postflow migrate-config OLD [-o NEW]"}
CERTS = {
    "postflow certs create [-c FILE]",
    "postflow certs show [-c FILE] [--json]",
    "postflow certs rotate [IDENTITY] [--ca] [-c FILE]",
}
DEMO = {"postflow demo"}
MARKERS = {"postflow markers PATH --format FORMAT [--pipeline NAME] [--refresh] [-c FILE] [-o OUT]"}


def readme_commands() -> list[str]:
    """The commands in the first column of the README's command table, in order."""
    section = README.read_text(encoding="utf-8").split("### Commands\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [command for row in rows for command in re.findall(r"`([^`]+)`", row.split("|")[1])]


@dataclass
class Finished:
    code: int
    out: str
    err: str


class Commands:
    """Runs README commands as written, placeholders filled in; remembers which ran."""

    def __init__(self, env: dict[str, str]) -> None:
        self.table = set(readme_commands())
        self.env = env
        self.ran: set[str] = set()

    def argv(self, command: str, omit: tuple[str, ...] = (), **values: str) -> list[str]:
        """`command` with its optional parts (except those in `omit`) and every placeholder filled in."""
        assert command in self.table, f"{command!r} is not in the README's command table"
        self.ran.add(command)
        text = OPTIONAL.sub(lambda part: "" if part.group(1) in omit else part.group(1), command)
        program, *words = [PLACEHOLDER.sub(lambda name: values[name.group()], word) for word in text.split()]
        return [*PROGRAMS[program], *words]

    async def start(self, command: str, omit: tuple[str, ...] = (), log: Path | None = None,
                    **values: str) -> asyncio.subprocess.Process:
        """The command as a process: output to `log`, or to pipes the caller reads."""
        argv = self.argv(command, omit, **values)
        if log is None:
            return await asyncio.create_subprocess_exec(*argv, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            return await asyncio.create_subprocess_exec(*argv, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=out, stderr=asyncio.subprocess.STDOUT)

    async def run(self, command: str, omit: tuple[str, ...] = (), timeout: float = RUN_TIMEOUT_S,
                  **values: str) -> Finished:
        process = await self.start(command, omit, **values)
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        finally:
            await stop_process(process)
        assert process.returncode is not None
        return Finished(process.returncode, out.decode(), err.decode())


async def stop_all(processes: list[asyncio.subprocess.Process]) -> list[int | None]:
    await asyncio.gather(*(stop_process(process) for process in processes))
    return [process.returncode for process in processes]


async def the_pipelines(commands: Commands, stack: Stack, delivered_file: Path) -> None:
    """route, pipelines, rescan and reload on the single-root config (the pipeline `default`)."""
    route = await commands.run("postflow route PATH [-c FILE] [--json]", omit=("-c FILE",), PATH=str(delivered_file))
    assert json.loads(route.out) == {"pipeline": "default", "connection": "default", "project": stack.config[
        "frameio"]["project_id"], "folder": "SQ01", "name": "first.mov", "mode": "auto",
        "rule": "no rules: the pipeline's own"}, route.err
    listed = await commands.run("postflow pipelines [--json]")
    [pipeline] = json.loads(listed.out)
    assert (pipeline["name"], pipeline["jobs_by_state"]["done"]) == ("default", 2), listed.err
    rescanned = await commands.run("postflow rescan --pipeline NAME [--upload-existing]", NAME="default")
    assert rescanned.out == "pipeline default: scanning afresh; 0 files present at its first start queued\n"
    reloaded = await commands.run("postflow reload [-c FILE]", omit=("-c FILE",))
    assert reloaded.code == 0 and reloaded.out.splitlines()[0] == "pipelines added: none", reloaded.err
    assert "streamer and auth not run by `postflow up`" in reloaded.err  # they run as `python -m services.NAME`


def test_the_scenarios_cover_the_readme_table_exactly():
    table = readme_commands()
    assert len(table) == len(set(table)), "a command is listed twice"
    assert set(table) == STACK | MIGRATE | DEMO | CERTS | MARKERS


@pytest.mark.asyncio
async def test_the_stack_commands(tmp_path):
    ports = {name: free_port() for name in ("emulator", "dashboard", "auth", "watcher", "streamer", "range", "api")}
    state_dir = tmp_path / "state"
    (state_dir / "watch").mkdir(parents=True)
    config_path = tmp_path / "config.json"
    commands = Commands({**child_env(), "POSTFLOW_CONFIG": str(config_path)})
    processes: list[asyncio.subprocess.Process] = []
    try:
        emulator = await commands.start("postflow emulator [--host H] [--port P] [--allow-http-loopback-redirect]",
                                        H="127.0.0.1", P=str(ports["emulator"]), log=tmp_path / "emulator.log")
        processes.append(emulator)
        emulator_url = f"http://127.0.0.1:{ports['emulator']}"
        async with httpx.AsyncClient(timeout=5) as client:
            seeded = await poll_json(client, f"{emulator_url}/_emulator/state", timeout=20)
        # A long stability window: only `submit` makes jobs here, not the scanner.
        config = deep_merge(demo_config(state_dir, emulator_url, seeded, ports),
                            {"watch": {**FAST_WATCH, "stable_after_s": 300},
                             "mesh": {"api_listen": f"127.0.0.1:{ports['api']}"}})
        write_config(config, config_path)
        await make_certs(state_dir / "certs")
        stack = Stack(tmp_path, config, config_path, emulator_url, f"http://127.0.0.1:{ports['dashboard']}",
                      commands.env, emulator=emulator)

        checked = await commands.run("postflow check-config [-c FILE]", FILE=str(config_path))
        assert checked.code == 0 and "config OK" in checked.err, checked.err
        assert json.loads(checked.out)["services"]["watcher"] == f"127.0.0.1:{ports['watcher']}"

        services = [await commands.start("python -m services.NAME [-c FILE]", NAME=name, FILE=str(config_path),
                                         log=state_dir / "logs" / f"{name}.log") for name in SERVICES]
        processes.extend(services)
        await stack.wait_healthy(timeout=START_TIMEOUT_S)
        await the_job_api(commands, stack)
        doctor = await commands.run("postflow doctor [-c FILE] [--live]", FILE=str(config_path), timeout=120)
        assert doctor.code == 0 and doctor.out.strip().endswith("all checks passed"), doctor.out
        assert await stop_all(services) == [0, 0, 0, 0]

        up = await commands.start("postflow up [-c FILE]", FILE=str(config_path), log=tmp_path / "up.log")
        processes.append(up)
        await stack.wait_healthy(timeout=START_TIMEOUT_S)
        jobs = await commands.run("postflow jobs [--json]")
        assert [job["state"] for job in json.loads(jobs.out)] == ["done", "done"]  # the ledger outlived the restart
        await stop_process(up)
        assert up.returncode == 0 and not list((state_dir / "run").glob("*.pid"))
    finally:
        await stop_all(processes)
    assert commands.ran == STACK


async def the_job_api(commands: Commands, stack: Stack) -> None:
    """status, login, submit --wait, jobs, publish; then logout, a job that waits for Frame.io,
    its cancel, login again and its retry."""
    status = await commands.run("postflow status [--json]")
    assert status.code == 0 and set(json.loads(status.out)["services"].values()) == {"SERVING"}
    assert json.loads(status.out)["auth"]["state"] == "disconnected"
    await log_in(commands, stack)
    shown = await commands.run("postflow status [--json]", omit=("--json",))
    assert shown.code == 0 and re.search(r"^watcher +SERVING$", shown.out, re.M) and "connected as" in shown.out

    first = stack.watch_root / "SQ01" / "first.mov"
    digest = write_media(first, 2 * 1024 * 1024, seed=1)
    submitted = await commands.run("postflow submit PATH [--wait]", PATH=str(first), timeout=120)
    assert submitted.code == 0, submitted.err
    assert submitted.out.startswith("queued ") and submitted.out.strip().splitlines()[-1].startswith("http")
    assert {f["sha256"] for f in await stack.emulator_files() if f["name"] == "first.mov"} == {digest}
    jobs = await commands.run("postflow jobs [--json]")
    assert [(job["path"], job["state"]) for job in json.loads(jobs.out)] == [("SQ01/first.mov", "done")]

    published = await commands.run("postflow publish PATH [--ttl S]", PATH=str(first), S="60")
    assert published.code == 0, published.err
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(published.out.strip())
    assert response.status_code == 200 and len(response.content) == first.stat().st_size

    logged_out = await commands.run("postflow logout")
    assert logged_out.code == 0 and "disconnected" in logged_out.out
    second = stack.watch_root / "SQ01" / "second.mov"
    write_media(second, 1024 * 1024, seed=2)
    queued = await commands.run("postflow submit PATH [--wait]", omit=("--wait",), PATH=str(second))
    assert queued.code == 0, queued.err
    job_id = queued.out.split()[1]  # "queued <id> <path>": it cannot finish without Frame.io
    cancelled = await commands.run("postflow cancel ID", ID=job_id)
    assert cancelled.code == 0 and cancelled.out.split()[:2] == ["cancelled", job_id], cancelled.err
    await log_in(commands, stack)
    retried = await commands.run("postflow retry ID", ID=job_id)
    assert retried.code == 0 and retried.out.split()[:2] == ["retrying", job_id], retried.err
    await wait_for(lambda: delivered(stack.emulator_url, "second.mov"), timeout=60,
                   message="the retried job delivered")
    await the_pipelines(commands, stack, first)
    await the_api_keys(commands, stack)
    await the_audit_log(commands, stack)
    await the_frameio_webhooks(commands)


async def the_api_keys(commands: Commands, stack: Stack) -> None:
    """A key is printed once, alone on the last line; listed without it; revoked."""
    config = str(stack.config_path)
    created = await commands.run("postflow api-keys create NAME --scope SCOPE [-c FILE]", NAME="render-farm",
                                 SCOPE="jobs:read", FILE=config)
    assert created.code == 0, created.err
    key = created.out.splitlines()[-1]
    assert key.startswith("pfk_") and " " not in key
    listed = await commands.run("postflow api-keys list [-c FILE] [--json]", omit=("-c FILE",))
    assert listed.code == 0 and [(k["name"], k["scopes"]) for k in json.loads(listed.out)] == [
        ("render-farm", ["jobs:read"])] and key not in listed.out, listed.err
    revoked = await commands.run("postflow api-keys revoke NAME [-c FILE]", NAME="render-farm", FILE=config)
    assert revoked.code == 0 and revoked.out.strip() == "revoked render-farm", revoked.err
    table = await commands.run("postflow api-keys list [-c FILE] [--json]", omit=("--json",), FILE=config)
    assert table.out.startswith("render-farm ") and "REVOKED" in table.out, table.err


async def the_audit_log(commands: Commands, stack: Stack) -> None:
    """`postflow audit` reads every service's log: none is missing, each line an entry."""
    audit = "postflow audit [-c FILE] [--since WHEN] [--limit N] [--json]"
    listed = await commands.run(audit, FILE=str(stack.config_path), WHEN="1h", N="500")
    assert listed.code == 0 and "warning" not in listed.err, listed.err
    entries = [json.loads(line) for line in listed.out.splitlines()]
    assert {entry["service"] for entry in entries} <= {"auth", "watcher", "streamer", "cli"}
    table = await commands.run(audit, omit=("--since WHEN", "--json"), FILE=str(stack.config_path), N="5")
    assert table.code == 0 and table.out.split("\n", 1)[0].split() == ["time", "service", "who", "action", "what",
                                                                       "outcome"], table.out


async def the_frameio_webhooks(commands: Commands) -> None:
    """A dry run of the setup: the workspace of the project delivered into, with the URL given."""
    planned = await commands.run("postflow webhooks setup [--connection C] [--public-url URL] [--dry-run] [--yes]",
                                 omit=("--yes",), C="default", URL="https://hooks.example.com")
    assert planned.code == 0, planned.err
    assert planned.out.startswith("would register  workspace "), planned.out
    assert "https://hooks.example.com/hooks/frameio/" in planned.out


async def log_in(commands: Commands, stack: Stack) -> None:
    """`postflow login` prints the dashboard's login URL; the user opens it (the emulator's IMS
    approves at once) and the command ends once auth says connected."""
    login = await commands.start("postflow login [--headless]", omit=("--headless",))
    try:
        assert login.stdout is not None
        await asyncio.wait_for(login.stdout.readline(), RUN_TIMEOUT_S)
        url = (await asyncio.wait_for(login.stdout.readline(), RUN_TIMEOUT_S)).decode().strip()
        assert url == f"{stack.dashboard_url}/auth/login"
        async with httpx.AsyncClient(follow_redirects=True, timeout=30) as browser:
            assert (await browser.get(url)).status_code == 200
        out, err = await asyncio.wait_for(login.communicate(), RUN_TIMEOUT_S)
    finally:
        await stop_process(login)
    assert login.returncode == 0 and "connected as" in out.decode(), err.decode()


async def delivered(emulator_url: str, name: str) -> dict | None:
    """The emulator's record of the file `name`, once its upload is complete."""
    async with httpx.AsyncClient(timeout=10) as client:
        files = (await client.get(f"{emulator_url}/_emulator/files")).json()["files"]
    return next((f for f in files if f["name"] == name and f["upload_complete"]), None)


@pytest.mark.asyncio
async def test_migrate_config(tmp_path):
    old, new = tmp_path / "v3.json", tmp_path / "v4" / "config.json"
    old.write_text(json.dumps({"frameio": {"server_to_server": True, "private_key_path": "key.pem",
                                           "client_id": "server_app_id", "manual_token_refresh": True}}))
    commands = Commands(child_env())
    migrated = await commands.run("postflow migrate-config OLD [-o NEW]", OLD=str(old), NEW=str(new))
    assert migrated.code == 0, migrated.err
    assert f"wrote {new}" in migrated.err and "Adobe Developer Console" in migrated.err
    frameio = json.loads(new.read_text())["frameio"]
    assert frameio["oauth_web_app"] is True and "server_to_server" not in frameio
    assert stat.S_IMODE(new.stat().st_mode) == 0o600  # it is meant to receive the client secret
    assert commands.ran == MIGRATE


@pytest.mark.asyncio
async def test_markers(tmp_path):
    """A delivered file's comments as an EDL, from a fake watcher's review (the real GetReview is
    covered by the review loop's own tests)."""
    async with FakeServices().serving("watcher") as fakes:
        fakes.watcher.reviews.append(REVIEWS["25"])
        config = tmp_path / "config.json"
        write_config({"services": {"watcher": fakes.address("watcher")}, "mesh": {"mtls": False},
                      "state_dir": str(tmp_path / "state")}, config)
        commands = Commands(child_env())
        [markers] = MARKERS
        exported = await commands.run(markers, PATH="B002_C010.mxf", FORMAT="edl", NAME="default", FILE=str(config),
                                      OUT=str(tmp_path))
        [asked] = fakes.watcher.review_requests
    assert exported.code == 0, exported.err
    assert (asked.path, asked.pipeline, asked.refresh) == ("B002_C010.mxf", "default", True)
    assert (tmp_path / "B002_C010.comments.edl").read_text() == (SAMPLES / "25.edl").read_text()
    assert commands.ran == MARKERS


@pytest.mark.asyncio
async def test_certs_commands(tmp_path):
    """create (twice: the second makes nothing), show, rotate one identity, then a new CA."""
    config_path = tmp_path / "config.json"
    write_config({"state_dir": str(tmp_path / "state")}, config_path)
    certs = tmp_path / "state" / "certs"
    commands = Commands({**child_env(), "POSTFLOW_CONFIG": str(config_path)})

    created = await commands.run("postflow certs create [-c FILE]", FILE=str(config_path))
    assert created.code == 0 and created.out.startswith(f"created in {certs}: ca, auth, watcher, streamer, "
                                                        "dashboard, admin"), created.err
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in certs.iterdir()} == {0o600}
    again = await commands.run("postflow certs create [-c FILE]", omit=("-c FILE",))
    assert again.code == 0 and again.out.startswith("nothing to create")

    async def fingerprints() -> dict[str, str]:
        shown = await commands.run("postflow certs show [-c FILE] [--json]", FILE=str(config_path))
        assert shown.code == 0, shown.out
        return {entry["identity"]: entry["fingerprint"] for entry in json.loads(shown.out)["certificates"]}

    before = await fingerprints()
    rotated = await commands.run("postflow certs rotate [IDENTITY] [--ca] [-c FILE]", omit=("--ca",),
                                 IDENTITY="watcher", FILE=str(config_path))
    assert rotated.code == 0 and "restart to use them: watcher" in rotated.out, rotated.err
    after = await fingerprints()
    assert {name for name in before if before[name] != after[name]} == {"watcher"}
    renewed = await commands.run("postflow certs rotate [IDENTITY] [--ca] [-c FILE]", omit=("IDENTITY", "-c FILE"))
    assert renewed.code == 0 and renewed.out.startswith("new CA; re-issued auth, watcher"), renewed.err
    assert all(fingerprint != after[name] for name, fingerprint in (await fingerprints()).items())
    text = await commands.run("postflow certs show [-c FILE] [--json]", omit=("-c FILE", "--json"))
    assert text.code == 0 and re.search(r"^admin +ok ", text.out, re.M), text.out
    assert commands.ran == CERTS


@pytest.mark.asyncio
async def test_demo(tmp_path):
    commands = Commands({**child_env(), "XDG_STATE_HOME": str(tmp_path)})
    demo = await commands.start("postflow demo")
    try:
        assert demo.stdout is not None
        banner = [(await asyncio.wait_for(demo.stdout.readline(), START_TIMEOUT_S)).decode() for _ in range(5)]
        emulator = re.search(r"Frame.io emulator at (\S+)\)", banner[0])
        dashboard = re.search(r"Dashboard: +(\S+)/$", banner[1])
        drop = re.search(r"Drop files into: +(\S+)$", banner[2])
        assert emulator and dashboard and drop, banner
        assert Path(drop.group(1)) == tmp_path / "postflow-demo" / "watch"
        digest = write_media(Path(drop.group(1)) / "dropped.mov", 1024 * 1024, seed=3)
        async with httpx.AsyncClient(timeout=10) as client:
            status = (await client.get(f"{dashboard.group(1)}/api/status")).json()
        assert status["auth"]["state"] == "connected"
        file = await wait_for(lambda: delivered(emulator.group(1), "dropped.mov"), timeout=60,
                              message="the dropped file delivered")
        assert file["sha256"] == digest
        demo.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(demo.wait(), 30) == 0
    finally:
        await stop_process(demo)
    assert commands.ran == DEMO
