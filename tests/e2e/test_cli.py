"""The `postflow` command against the real services: status, submit --wait, jobs, retry,
cancel, publish, logout/login, check-config."""

import asyncio
import json
import sys

import httpx
import pytest

from postflow.testing.media import write_media
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow


@pytest.mark.asyncio
async def test_cli_drives_the_job_api(tmp_path):
    # A long stability window keeps the scanner from queuing the file before `submit` does.
    async with running_stack(tmp_path, overrides={"watch": {"stable_after_s": 300}}) as stack:
        code, out, _ = await stack.cli("status", "--json")
        status = json.loads(out)
        assert code == 0 and set(status["services"].values()) == {"SERVING"}
        assert status["auth"]["state"] == "connected" and status["tunnel"]["state"] == "up"

        clip = stack.watch_root / "SQ02" / "clip.mov"
        digest = write_media(clip, 3 * 1024 * 1024, seed=5)
        code, out, err = await stack.cli("submit", str(clip), "--wait", timeout=120)
        assert code == 0, err
        assert out.splitlines()[0].startswith("queued ") and "SQ02/clip.mov" in out
        assert out.strip().splitlines()[-1].startswith("http")  # the Frame.io view URL
        (delivered,) = [f for f in await stack.emulator_files() if f["name"] == "clip.mov"]
        assert delivered["sha256"] == digest and delivered["folder_path"] == "SQ02"

        code, out, _ = await stack.cli("jobs", "--json")
        (job,) = json.loads(out)
        assert code == 0 and job["state"] == "done" and job["path"] == "SQ02/clip.mov"
        code, _, err = await stack.cli("retry", job["id"])
        assert code == 1 and "postflow:" in err  # a done job cannot be retried
        code, _, err = await stack.cli("cancel", "no-such-job")
        assert code == 1 and "no-such-job" in err

        code, _, err = await stack.cli("submit", str(tmp_path / "config.json"))
        assert code == 1 and "watch root" in err.lower()

        code, out, _ = await stack.cli("publish", str(clip), "--ttl", "60")
        url = out.strip()
        assert code == 0 and "/t/" in url and "clip" not in url
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200 and len(response.content) == clip.stat().st_size
        code, _, err = await stack.cli("publish", str(stack.config_path))
        assert code == 1 and "under no pipeline's root" in err


@pytest.mark.asyncio
async def test_logout_then_login_from_the_terminal(tmp_path):
    async with running_stack(tmp_path) as stack:
        code, out, _ = await stack.cli("logout")
        assert code == 0 and "disconnected" in out
        _, out, _ = await stack.cli("status", "--json")
        assert json.loads(out)["auth"]["state"] == "disconnected"

        login = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "postflow.cli", "login", "-c", str(stack.config_path), "--timeout", "60",
            env=stack.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await login.stdout.readline()
        url = (await login.stdout.readline()).decode().strip()
        assert url == f"{stack.dashboard_url}/auth/login"
        async with httpx.AsyncClient(follow_redirects=True) as browser:  # the user opens it
            assert (await browser.get(url)).status_code == 200
        out, _ = await asyncio.wait_for(login.communicate(), 60)
        assert login.returncode == 0 and "connected as" in out.decode()


@pytest.mark.asyncio
async def test_check_config(tmp_path):
    async with running_stack(tmp_path, connect=False) as stack:
        code, out, err = await stack.cli("check-config")
        assert code == 0 and "config OK" in err
        assert json.loads(out)["frameio"]["client_secret"] == "***"
        config_text = stack.config_path.read_text()
        stack.config_path.write_text(config_text.replace('"max_concurrent": 4', '"max_concurrent": -1'))
        code, _, err = await stack.cli("check-config")
        assert code == 2 and "watch.max_concurrent: must be at least 1" in err
