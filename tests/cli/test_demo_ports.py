"""`postflow demo` picks its ports and its child processes bind them a moment later: one that
another process takes in between makes the demo start again on other ports, saying so."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import pytest

from postflow.core.config import split_address
from postflow.core.net import listen
from postflow.testing.polling import wait_for
from postflow.testing.processes import child_env, stop_process

pytestmark = pytest.mark.slow


def watcher_address(config_path: Path) -> str | None:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(config_path.read_text())["services"]["watcher"]
    return None


@pytest.mark.asyncio
async def test_a_port_taken_before_its_service_listens_starts_the_demo_again_on_other_ports(tmp_path):
    state_dir = tmp_path / "demo"
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", "demo", "--state-dir", str(state_dir), "--dashboard-port", "0",
        "--emulator-port", "0", env=child_env(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert demo.stdout is not None and demo.stderr is not None
    try:
        # The config names the picked ports before any service has started.
        taken = await wait_for(lambda: watcher_address(state_dir / "config.json"), timeout=30, interval=0.01,
                               message="the demo's config")
        with listen(*split_address(taken, "services.watcher")):
            banner = await asyncio.wait_for(demo.stdout.readline(), 60)
            assert banner.startswith(b"PostFlow demo is running"), banner
            assert watcher_address(state_dir / "config.json") != taken
    finally:
        await stop_process(demo)
    err = (await demo.stderr.read()).decode()
    assert f"watcher could not start: cannot listen on {taken}: Address already in use" in err
    assert "a service could not listen on the port picked for it; starting again on other ports (2 of 3)" in err
