"""`postflow doctor --live` against the whole of PostFlow and the emulator, as processes: every
check passes and nothing is left behind; a revoked login and an unreachable public URL each
fail with a line saying what to do. The public URL is a relay the test can close."""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_asyncio

from postflow.cli.demo import connect_frameio
from postflow.core.clients import Clients
from postflow.core.config import load_config
from postflow.testing.emulator import clear_faults, issued_tokens, revoke_at_ims
from postflow.testing.ports import free_port
from postflow.testing.stack import running_stack
from postflow.testing.tcp_relay import TcpRelay
from postflow.v1 import watcher_pb2

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

BASE_CHECKS = ["config", "IMS", "Frame.io API", "services", "watch root", "Frame.io login", "project", "public URL",
               "Frame.io hooks"]
LIVE_STEPS = ["folder", "remote upload", "local upload", "version stack", "clean-up"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deployment(tmp_path_factory):
    """A running stack whose public URL is a relay in front of the streamer's Range server."""
    public_port = free_port()
    overrides = {"streamer": {"tunnel": {"public_base_url": f"http://127.0.0.1:{public_port}"}}}
    async with running_stack(tmp_path_factory.mktemp("doctor"), overrides) as stack:
        range_port = int(stack.config["streamer"]["listen"].rsplit(":", 1)[1])
        relay = TcpRelay(public_port, range_port)
        await relay.start()
        try:
            yield stack, relay
        finally:
            await relay.stop()


async def doctor(stack, *args: str) -> tuple[int, dict[str, str], list[str]]:
    """Exit code, the check lines by check name, all lines."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", "doctor", "-c", str(stack.config_path), *args, env=stack.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    lines = out.decode().splitlines()
    assert not err, err.decode()
    checks = {line[2:17].strip(): line for line in lines if line[:2] in ("✓ ", "! ", "✗ ", "- ")}
    return process.returncode, checks, lines


async def test_live_round_trip_passes_and_leaves_nothing_behind(deployment):
    stack, _ = deployment
    deleted_before = len((await stack.emulator_report())["deleted"])
    code, checks, lines = await doctor(stack, "--live")
    assert code == 0, "\n".join(lines)
    assert list(checks) == BASE_CHECKS + LIVE_STEPS
    hooks = checks.pop("Frame.io hooks")  # none registered yet: optional, so a warning
    assert hooks.startswith("! Frame.io hooks  no Frame.io webhook in workspace ") and \
        hooks.endswith("→ `postflow webhooks setup`"), hooks
    assert all(line.startswith("✓ ") for line in checks.values()), "\n".join(lines)
    assert lines[-1] == "all checks passed"
    assert "; reconnect by " in checks["Frame.io login"] and " UTC (in 14 days)" in checks["Frame.io login"]
    assert "1 MiB fetched by Frame.io from the public URL" in checks["remote upload"]
    assert "2 Frame.io files deleted; test file removed" in checks["clean-up"]

    report = await stack.emulator_report()
    assert report["files"] == []
    pulled, pushed = sorted(report["deleted"][deleted_before:], key=lambda f: f["method"] != "remote")
    assert (pulled["method"], pushed["method"]) == ("remote", "local")
    for file in (pulled, pushed):
        assert file["folder_path"] == "postflow-doctor" and file["upload_complete"] and file["size"] == 1024 * 1024
    assert pulled["parent_id"] == pushed["parent_id"]  # both were in one version stack when deleted
    assert not (stack.watch_root / ".postflow-doctor").exists()
    async with Clients(load_config(stack.config_path, env={})) as clients:
        jobs = await clients.watcher.ListJobs(watcher_pb2.ListJobsRequest(), timeout=10)
    assert list(jobs.jobs) == []  # the watcher never took the generated file for a job


async def test_a_failed_step_skips_the_later_ones_and_still_cleans_up(deployment):
    stack, _ = deployment
    await stack.fault({"pull_disconnect": {"at_byte": 1000, "mode": "always"}})  # Frame.io's fetch fails
    try:
        code, checks, lines = await doctor(stack, "--live")
    finally:
        await clear_faults(stack.emulator_url)
    assert code == 1
    assert checks["remote upload"].startswith("✗ remote upload   Frame.io reports upload_failed (")
    assert checks["remote upload"].endswith("→ Frame.io must reach the public URL from the internet: check "
                                            "streamer.tunnel and `postflow status`")
    assert checks["local upload"] == "- local upload    skipped: the remote upload step failed"
    assert checks["version stack"] == "- version stack   skipped: the remote upload step failed"
    assert checks["clean-up"].startswith("✓ clean-up        1 Frame.io file deleted; test file removed (")
    assert (await stack.emulator_report())["files"] == []
    assert not (stack.watch_root / ".postflow-doctor").exists()
    assert lines[-1] == "1 check failed"


async def test_an_unreachable_public_url_fails_and_the_round_trip_is_skipped(deployment):
    stack, relay = deployment
    await relay.stop()
    try:
        code, checks, lines = await doctor(stack, "--live")
    finally:
        await relay.start()
    assert code == 1
    assert checks["public URL"].startswith(f"✗ public URL      {relay.url} does not answer (ConnectError")
    assert "→ check streamer.tunnel" in checks["public URL"]
    assert [name for name, line in checks.items() if line.startswith("✗")] == ["public URL"]
    assert checks["round trip"] == "- round trip      skipped: fix what failed above first"
    assert lines[-1] == "1 check failed"


async def test_a_login_revoked_at_ims_fails_and_says_to_log_in_again(deployment):
    stack, _ = deployment
    for token in await issued_tokens(stack.emulator_url):  # the user removed PostFlow's access at Adobe
        if token["kind"] == "refresh" and token["state"] == "active":
            await revoke_at_ims(stack.emulator_url, token["value"])
    try:
        code, checks, lines = await doctor(stack)
        assert code == 1
        assert checks["project"].startswith("✗ project         Frame.io reconnect needed")
        assert checks["project"].endswith("→ connect Frame.io again: `postflow login` (or the dashboard's "
                                          "Connect button)")
        # PostFlow now knows: the login line itself says so.
        code, checks, _ = await doctor(stack)
        assert code == 1 and checks["Frame.io login"].startswith("✗ Frame.io login  reconnect needed")
        assert checks["project"] == "- project         skipped: Frame.io is not connected"
    finally:
        await connect_frameio(stack.dashboard_url)
