"""`postflow audit`: the audit entries of every service and of the CLI, merged newest last,
as a real process against real gRPC servers; a service that is down is named, the rest shown."""

import asyncio
import json
import sys

import pytest

from postflow.core.config import Config, write_config
from postflow.core.mesh.audit import AuditEntry, AuditLog, audit_path, record_cli_action
from postflow.core.mesh.guard import Security
from postflow.core.rpc import GrpcServer
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env


async def postflow(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "postflow.cli", *args, env=child_env(),
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
async def test_audit_merges_every_service_and_names_the_one_that_is_down(tmp_path):
    state_dir = tmp_path / "state"
    ports = {name: free_port() for name in ("auth", "watcher", "streamer")}  # the streamer is down
    config_path = tmp_path / "config.json"
    write_config({"state_dir": str(state_dir), "mesh": {"mtls": False},
                  "services": {name: f"127.0.0.1:{port}" for name, port in ports.items()}}, config_path)
    record_cli_action(Config(state_dir=str(state_dir)), "api-keys create", "render-farm")
    servers = []
    try:
        for at, (name, action, what) in enumerate([("watcher", "SubmitFile", "SQ01/a.mov"),
                                                   ("auth", "Disconnect", ""),
                                                   ("watcher", "CancelJob", "job-7")]):
            log = AuditLog(audit_path(state_dir, name))
            log.record(AuditEntry(at=1_000_000_000.0 + at, who="dashboard", action=action, what=what,
                                  outcome="denied" if name == "auth" else "ok", service=name))
            await log.close()
        for name in ("auth", "watcher"):
            server = GrpcServer(security=Security(name, None, audit=AuditLog(audit_path(state_dir, name))))
            await server.start(f"127.0.0.1:{ports[name]}")
            servers.append(server)

        code, out, err = await postflow("audit", "-c", str(config_path))
        assert code == 0, err
        assert "streamer" in err and "warning" in err and "auth" not in err and "watcher" not in err
        rows = [line.split() for line in out.splitlines()]
        assert rows[0] == ["time", "service", "who", "action", "what", "outcome"]
        assert [row[2:] for row in rows[1:4]] == [["watcher", "dashboard", "SubmitFile", "SQ01/a.mov", "ok"],
                                                 ["auth", "dashboard", "Disconnect", "denied"],
                                                 ["watcher", "dashboard", "CancelJob", "job-7", "ok"]]
        assert rows[1][:2] == ["2001-09-09", "01:46:40"]
        assert rows[4][2:] == ["cli", "admin", "api-keys", "create", "render-farm", "ok"]  # now: the newest
        assert len(rows) == 5

        code, out, err = await postflow("audit", "-c", str(config_path), "--since", "1h", "--json")
        assert code == 0, err
        assert [json.loads(line)["action"] for line in out.splitlines()] == ["api-keys create"]
        code, out, _ = await postflow("audit", "-c", str(config_path), "--since", "2001-09-09T01:46:41Z",
                                      "--limit", "2", "--json")
        assert [(e["service"], e["action"]) for e in map(json.loads, out.splitlines())] == [
            ("watcher", "CancelJob"), ("cli", "api-keys create")]

        code, _, err = await postflow("audit", "-c", str(config_path), "--since", "last week")
        assert code == 1 and "since" in err and "'last week'" in err
    finally:
        for server in servers:
            await server.stop(0)
