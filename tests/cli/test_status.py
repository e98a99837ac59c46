"""`postflow status` shows the streamer's bandwidth limit now, and its timetable."""

from __future__ import annotations

import io
from datetime import datetime

import pytest

from postflow.cli import output
from postflow.cli.commands import gather_status
from postflow.core.clients import Clients
from postflow.core.config import build_config
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
    async with limited_streamer(tmp_path, TIMETABLE, lambda: datetime(2026, 12, 7, hour)) as streamer:
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
