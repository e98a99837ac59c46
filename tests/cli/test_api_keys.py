"""`postflow api-keys create|list|revoke` against a real watcher, and the CLI with
$POSTFLOW_API_KEY: the watcher on its API port, the other services still needing the admin
certificate."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from postflow.core.config import write_config
from postflow.core.errors import Unauthenticated
from postflow.testing.api_port import ApiPort, watcher_with_api_port
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env

PEER = "ipv4:192.0.2.1:1"


async def postflow(api: ApiPort, *args: str, key: str = "") -> tuple[int, str, str]:
    env = {**child_env(), **({"POSTFLOW_API_KEY": key} if key else {})}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", *args, "-c", str(api.env.config_path), env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
async def test_create_list_and_revoke(tmp_path):
    async with watcher_with_api_port(tmp_path) as api:
        code, out, err = await postflow(api, "api-keys", "create", "render-farm", "--scope", "jobs:read",
                                        "--scope", "jobs:write")
        assert code == 0 and not err, err
        *before, key = out.splitlines()
        assert key.startswith("pfk_") and key == key.strip() and "shown this once" in before[-1]
        principal = await api.service.api_keys.authenticate(key, PEER)
        assert str(principal) == "key:render-farm" and principal.scopes == {"jobs:read", "jobs:write"}

        code, out, err = await postflow(api, "api-keys", "list", "--json")
        assert code == 0, err
        (listed,) = json.loads(out)
        assert listed["name"] == "render-farm" and listed["scopes"] == ["jobs:read", "jobs:write"]
        assert listed["created_at"] and listed["revoked_at"] is None and key not in out
        code, out, _ = await postflow(api, "api-keys", "list")
        assert out.startswith("render-farm ") and "jobs:read jobs:write" in out and key not in out

        code, out, err = await postflow(api, "api-keys", "create", "render-farm", "--scope", "admin")
        assert code == 1 and "'render-farm' already exists" in err
        code, out, err = await postflow(api, "api-keys", "create", "other", "--scope", "jobs:delete")
        assert code == 1 and "valid scopes are jobs:read, jobs:write, admin" in err

        code, out, err = await postflow(api, "api-keys", "revoke", "render-farm")
        assert code == 0 and out.strip() == "revoked render-farm", err
        with pytest.raises(Unauthenticated):
            await api.service.api_keys.authenticate(key, PEER)
        code, out, _ = await postflow(api, "api-keys", "list")
        assert "REVOKED" in out
        code, out, err = await postflow(api, "api-keys", "revoke", "nobody")
        assert code == 1 and "no API key named 'nobody'" in err


@pytest.mark.asyncio
async def test_with_an_api_key_the_cli_calls_the_api_port(tmp_path):
    async with watcher_with_api_port(tmp_path) as api:
        key, _ = await api.service.api_keys.create("ops", ["admin"])
        # Nothing listens on the watcher's gRPC address any more: only the API port can answer.
        api.env.config["services"]["watcher"] = f"127.0.0.1:{free_port()}"
        write_config(api.env.config, api.env.config_path)
        code, out, err = await postflow(api, "jobs", "--json", key=key)
        assert code == 0 and json.loads(out) == [], err
        code, out, err = await postflow(api, "api-keys", "list", "--json", key=key)
        assert code == 0 and [entry["name"] for entry in json.loads(out)] == ["ops"], err

        # auth and the streamer take the admin certificate only: say so when it is missing
        api.certs.cert("admin").unlink()
        code, out, err = await postflow(api, "status", key=key)
        assert code == 1
        assert f"admin certificate ({api.certs.cert('admin')}, missing)" in err and "POSTFLOW_API_KEY" in err
