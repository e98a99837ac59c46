"""The end-to-end path with the real processes: files dropped into the watch folder
reach the emulator (Frame.io) byte for byte, through auth, watcher and streamer."""

import asyncio
import json
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from postflow.cli.supervisor import SERVICES
from postflow.testing.media import sha256_file, write_media
from postflow.testing.polling import wait_for
from postflow.testing.processes import child_env, stop_process
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow


def write_bytes_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise AssertionError("no write_bytes")


async def delivered(stack, expected: dict[str, str]) -> dict[str, dict]:
    """Emulator files keyed by 'folder/name' once every expected one is complete."""
    files = {("/".join(filter(None, [f.get("folder_path", ""), f["name"]]))): f for f in await stack.emulator_files()}
    done = {key: f for key, f in files.items() if key in expected and f.get("upload_complete")}
    return files if len(done) == len(expected) else {}


@pytest.mark.asyncio
async def test_three_files_arrive_intact_with_no_copy_on_disk(tmp_path):
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    async with running_stack(tmp_path, env={"TMPDIR": str(scratch)}) as stack:
        written_before = {name: write_bytes_of(stack.pid(name)) for name in SERVICES}
        sources = tmp_path / "renders"
        expected = {
            "A001_C002_v001.mov": write_media(sources / "big.mov", 210 * 1024 * 1024, seed=1),
            "SQ01/SH010/SQ01_SH010_v003.mov": write_media(sources / "nested.mov", 3 * 1024 * 1024 + 17, seed=2),
            "small clip é.mp4": write_media(sources / "small.mp4", 123_457, seed=3),
        }
        names = {"A001_C002_v001.mov": "big.mov", "SQ01/SH010/SQ01_SH010_v003.mov": "nested.mov",
                 "small clip é.mp4": "small.mp4"}
        for rel, src in names.items():
            target = stack.watch_root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sources / src, target)
        files = await wait_for(lambda: delivered(stack, expected), timeout=180, interval=0.5,
                               message="three files delivered")
        for rel, digest in expected.items():
            assert files[rel]["sha256"] == digest, rel
            assert files[rel]["size"] == (stack.watch_root / rel).stat().st_size
        assert len([f for f in await stack.emulator_files() if f.get("upload_complete")]) == 3, "no duplicates"
        written = {name: write_bytes_of(stack.pid(name)) - written_before[name] for name in SERVICES}
        total_payload = sum((stack.watch_root / rel).stat().st_size for rel in expected)
        # State rows and log lines only: far below one copy of the media.
        assert sum(written.values()) < total_payload // 20, written
        assert list(scratch.iterdir()) == [], "nothing written to the temp dir"
        await assert_no_token_or_secret_anywhere(stack)


async def assert_no_token_or_secret_anywhere(stack) -> None:
    """No token the emulator issued, nor the client secret, in any log or state
    file of any service, nor in what the dashboard serves."""
    async with httpx.AsyncClient(timeout=10) as http:
        issued = {t["value"] for t in (await http.get(f"{stack.emulator_url}/_emulator/tokens")).json()["tokens"]}
        served = {path: (await http.get(f"{stack.dashboard_url}{path}")).text
                  for path in ("/", "/api/status", "/api/jobs")}
    assert len(issued) >= 2  # an access and a refresh token at least
    secrets = issued | {stack.config["frameio"]["client_secret"]}
    texts = {str(p): p.read_bytes().decode("latin-1") for p in stack.state_dir.rglob("*")
             if p.is_file() and not p.is_relative_to(stack.watch_root)}
    assert any(name.endswith("watcher.log") for name in texts) and any("ledger" in name for name in texts)
    texts.update(served)
    leaked = [(where, secret[:6]) for where, text in texts.items() for secret in secrets if secret in text]
    assert leaked == []


@pytest.mark.asyncio
async def test_broken_config_is_refused_naming_the_key(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"watch": {"max_concurrent": "lots"}, "state_dir": "%s"}' % (tmp_path / "state"))
    commands = [[sys.executable, "-m", f"services.{name}", "-c", str(bad)] for name in SERVICES]
    commands.append([sys.executable, "-m", "postflow.cli", "up", "-c", str(bad)])
    for command in commands:
        process = await asyncio.create_subprocess_exec(*command, env=child_env(), stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 2, (command, err)
        assert b"watch.max_concurrent: expected a whole number" in err, (command, err)


@pytest.mark.asyncio
async def test_service_specific_config_errors_stop_postflow_up(tmp_path):
    """A config that parses but lacks what one service needs (no watch root) must stop `up`
    with that service's message, not loop restarting it."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"frameio": {"client_id": "x", "client_secret": "y"},
                                  "watch": {"root": str(tmp_path / "missing")}, "state_dir": str(tmp_path / "state")}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", "up", "-c", str(config), env=child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await stop_process(process)
    assert process.returncode == 2
    assert b"watch.root:" in err and b"is not a directory" in err
    assert not any((tmp_path / "state" / "run").glob("*.pid")), "children cleaned up"


@pytest.mark.asyncio
async def test_make_demo_path_delivers_a_dropped_file(tmp_path):
    """`postflow demo` (what `make demo` runs): it prints the drop folder; a file copied
    there reaches the emulator with the same sha256 within seconds."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", "demo", "--state-dir", str(tmp_path / "demo"),
        "--dashboard-port", "0", "--emulator-port", "0", env=child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        lines: list[str] = []

        async def banner() -> dict[str, str]:
            while True:
                line = (await process.stdout.readline()).decode()
                if not line:
                    raise AssertionError("demo exited early:\n" + "".join(lines))
                lines.append(line)
                if "Drop files into:" in line:
                    emulator_line = next(text for text in lines if "emulator at" in text)
                    return {"drop": line.split("Drop files into:")[1].strip(),
                            "emulator": emulator_line.split("emulator at ")[1].split(")")[0]}

        found = await asyncio.wait_for(banner(), 90)
        drop = Path(found["drop"])
        assert drop == tmp_path / "demo" / "watch"
        digest = write_media(drop / "dropped.mov", 5 * 1024 * 1024, seed=9)

        async def arrived():
            import httpx
            async with httpx.AsyncClient() as client:
                data = (await client.get(f"{found['emulator']}/_emulator/files")).json()
            files = data["files"] if isinstance(data, dict) else data
            return [f for f in files if f["name"] == "dropped.mov" and f.get("upload_complete")]

        (file,) = await wait_for(arrived, timeout=30, interval=0.3, message="dropped file in the emulator")
        assert file["sha256"] == digest == sha256_file(drop / "dropped.mov")
    finally:
        await stop_process(process, timeout=30)
    assert process.returncode == 0
    assert not any((tmp_path / "demo" / "run").glob("*.pid"))
