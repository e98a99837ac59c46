"""`postflow status` shows the streamer's bandwidth limit now, and its timetable; and each mesh
certificate's expiry, flagging one within 30 days."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from postflow.cli import output
from postflow.cli.commands import gather_status
from postflow.core.clients import Clients
from postflow.core.config import build_config
from postflow.core.mesh.certs import CertPaths, ensure_certs, issue
from postflow.testing.mesh import MESH_OFF
from postflow.testing.ports import free_port
from postflow.testing.streamer import limited_streamer

TIMETABLE = "08:00,20M 19:00,off"


def printed(status: dict) -> list[str]:
    out = io.StringIO()
    output.print_status(status, out)
    return out.getvalue().splitlines()


@pytest.mark.asyncio
@pytest.mark.parametrize(("hour", "line"), [
    (9, f'bandwidth  20 MiB/s (transfer.bwlimit "{TIMETABLE}")'),
    (20, f'bandwidth  off (transfer.bwlimit "{TIMETABLE}")'),
])
@pytest.mark.asyncio
async def test_status_shows_the_limit_of_the_hour_from_the_running_streamer(tmp_path, hour, line):
    async with limited_streamer(tmp_path, TIMETABLE, lambda: dt.datetime(2026, 12, 7, hour)) as streamer:
        config = build_config({"services": {"streamer": f"127.0.0.1:{streamer.service.grpc_port}",
                                            "auth": f"127.0.0.1:{free_port()}", "watcher": f"127.0.0.1:{free_port()}"},
                               "dashboard": {"listen": f"127.0.0.1:{free_port()}"}, "mesh": MESH_OFF})
        async with Clients(config) as clients:
            status = await gather_status(config, clients)
    assert status["services"]["streamer"] == "SERVING"
    assert status["tunnel"]["bandwidth_schedule"] == TIMETABLE
    assert status["tunnel"]["bandwidth_limit_bps"] == (20 * 1024**2 if hour == 9 else 0)
    assert line in printed(status)


def test_a_single_rate_reads_without_a_timetable():
    status = {"services": {"streamer": "SERVING"}, "auth": None, "jobs": None, "watch_root": None,
              "tunnel": {"mode": "none", "state": "up", "url": "http://127.0.0.1:8080", "restarts": 0,
                         "bandwidth_limit_bps": 512 * 1024, "bandwidth_schedule": "512K"}}
    assert printed(status)[-1] == "bandwidth  512 KiB/s"


@pytest.mark.asyncio
async def test_status_shows_each_certificate_and_flags_one_near_expiry(tmp_path):
    paths = CertPaths(tmp_path / "certs")
    ensure_certs(paths)
    issue(paths, "watcher", not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=100), days=110)
    unreachable = {name: f"127.0.0.1:{free_port()}" for name in ("auth", "watcher", "streamer")}
    config = build_config({"services": unreachable, "dashboard": {"listen": f"127.0.0.1:{free_port()}"},
                           "mesh": {"certs_dir": str(paths.dir)}})
    async with Clients(config) as clients:
        status = await gather_status(config, clients)
    entries = {entry["identity"]: entry for entry in status["certificates"]}
    assert set(entries) == {"ca", "auth", "watcher", "streamer", "dashboard", "admin"}
    assert (entries["watcher"]["state"], entries["watcher"]["days_left"]) == ("expiring", 9)
    assert {entries[name]["state"] for name in entries if name != "watcher"} == {"ok"}
    assert entries["watcher"]["not_after"].endswith("Z")
    line = next(line for line in printed(status) if line.startswith("certs"))
    assert line.startswith("certs      ⚠ watcher expires on ") and line.endswith("(in 9 days)")

    paths.cert("streamer").unlink()
    issue(paths, "watcher")
    async with Clients(config) as clients:
        status = await gather_status(config, clients)
    assert [line for line in printed(status) if line.startswith("certs")] == [
        f"certs      ⚠ streamer missing: {paths.cert('streamer')} missing"]


def test_status_without_mtls_has_no_certificates_line():
    status = {"services": {"auth": "SERVING"}, "auth": None, "tunnel": None, "jobs": None, "watch_root": None,
              "certificates": None}
    assert printed(status) == ["auth       SERVING"]
