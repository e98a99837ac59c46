"""Running the emulator: `python -m postflow.emulator` as a real process (ready fast, says
where it is and what it seeded, stops cleanly on SIGTERM/SIGINT) and `running_emulator()`
in-process."""

import asyncio
import signal
import socket
import sys
import time

import httpx
import pytest

from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import main, options_from, parse_args, running_emulator
from postflow.testing.emulator import client_credentials_token
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env

BANNER_LINES = 6


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.emulator", *args, env=child_env(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def banner(process: asyncio.subprocess.Process) -> str:
    lines = [await asyncio.wait_for(process.stdout.readline(), 10) for _ in range(BANNER_LINES)]
    return "".join(line.decode() for line in lines)


@pytest.mark.asyncio
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_the_module_is_ready_within_two_seconds_and_stops_cleanly(stop_signal):
    port = free_port()
    started = time.monotonic()
    process = await start("--port", str(port), "--access-token-ttl", "5", "--no-rate-limits")
    try:
        text = await banner(process)
        ready_s = time.monotonic() - started
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as http:
            seeded = (await http.get(f"{url}/_emulator/state")).json()
            token = (await http.post(f"{url}/ims/token/v3", data={
                "grant_type": "client_credentials", "client_id": "postflow-dev",
                "client_secret": "postflow-dev-secret"})).json()
            folders = f"{url}/v4/accounts/{seeded['account_id']}/folders/{seeded['root_folder_id']}/folders"
            created = [await http.post(folders, json={"data": {"name": "f"}},
                                       headers={"Authorization": f"Bearer {token['access_token']}"}) for _ in range(5)]
        assert ready_s < 2.0, f"ready after {ready_s:.2f}s"
        assert url in text and "postflow-dev" in text and "postflow-dev-secret" not in text
        for key in ("account_id", "workspace_id", "project_id", "root_folder_id"):
            assert seeded[key] in text, key
        assert token["expires_in"] == 5, "--access-token-ttl"
        assert [r.status_code for r in created] == [201] * 5, "--no-rate-limits"
        process.send_signal(stop_signal)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the port is released"


@pytest.mark.asyncio
async def test_a_busy_port_is_reported_by_address_and_exits_3_as_a_service_would():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = await start("--port", str(port))
        _, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 3 and f"cannot listen on 127.0.0.1:{port}: Address already in use".encode() in err


@pytest.mark.asyncio
async def test_running_emulator_in_process_reports_its_real_port():
    async with running_emulator() as handle:
        assert handle.port > 0 and handle.url == f"http://127.0.0.1:{handle.port}"
        assert await client_credentials_token(handle.url)
        assert len(handle.state.tokens.describe()) == 1
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{handle.url}/_emulator/state")).json() == handle.state.seeded()
            reset = await http.post(f"{handle.url}/_emulator/reset")
        assert reset.json()["account_id"] == handle.state.store.seed.account_id
        assert handle.state.tokens.describe() == []
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{handle.url}/_emulator/state")


def test_start_options_are_strict_by_default_and_switchable():
    assert options_from(parse_args([])) == EmulatorOptions()
    assert EmulatorOptions().allow_http_loopback_redirect is False and EmulatorOptions().remote_upload_refusal == 400
    switched = options_from(parse_args([
        "--refresh-token-ttl", "60", "--allow-http-loopback-redirect", "--processing-delay", "2.5",
        "--remote-upload-refusal", "422", "--upload-part-size", "1", "--upload-max-parts", "20000",
        "--upload-url-ttl", "30", "--version-stack-placement", "bottom", "--no-rate-limits",
        "--webhook-backoff", "0.2", "--webhook-deadline", "1.5"]))
    assert switched == EmulatorOptions(refresh_token_ttl_s=60, allow_http_loopback_redirect=True,
                                       processing_delay_s=2.5, remote_upload_refusal=422, upload_part_size=1,
                                       upload_max_parts=20_000, upload_url_ttl_s=30, version_stack_placement="bottom",
                                       rate_limits=False, webhook_backoff_s=0.2, webhook_deadline_s=1.5)
    assert (EmulatorOptions().webhook_backoff_s, EmulatorOptions().webhook_deadline_s) == (15.0, 5.0), "as documented"


def test_out_of_range_start_options_are_refused_naming_the_flag(capsys):
    assert main(["--refresh-token-ttl", "0"]) == 2
    assert "--refresh-token-ttl must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--remote-upload-refusal", "500"])
    with pytest.raises(ValueError, match="version_stack_placement"):
        EmulatorOptions(version_stack_placement="middle")
    assert main(["--webhook-deadline", "0"]) == 2
    assert "--webhook-deadline must be at least" in capsys.readouterr().err
