"""`postflow webhooks setup` against a fake watcher: it shows the dry run first, then registers
only with the admin's consent (a "y" at the terminal, or --yes); without a terminal and without
--yes it refuses, naming --yes; --dry-run only shows."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from postflow.core.config import write_config
from postflow.testing.fakes.services import FakeServices
from postflow.testing.mesh import MESH_OFF
from postflow.testing.processes import child_env
from postflow.v1 import watcher_pb2

URL = "https://hooks.example/hooks/frameio/" + "k" * 32


@pytest_asyncio.fixture
async def watcher(tmp_path) -> AsyncIterator[tuple[FakeServices, Path]]:
    async with FakeServices().serving("watcher") as fakes:
        fakes.watcher.registrations = [watcher_pb2.FrameioWebhookRegistration(
            connection="default", account_id="a1", workspace_id="w1", workspace_name="Studio", url=URL,
            events=["file.ready", "comment.created"], outcome="registered")]
        config_path = tmp_path / "config.json"
        write_config({"services": {"watcher": fakes.address("watcher")}, "mesh": MESH_OFF,
                      "state_dir": str(tmp_path / "state")}, config_path)
        yield fakes, config_path


async def setup(config_path: Path, *args: str, answer: bytes | None = None) -> tuple[int, str, str]:
    """`postflow webhooks setup ARGS`; with `answer`, its stdin is a terminal that types it."""
    typed_into, terminal = pty.openpty() if answer is not None else (None, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.cli", "webhooks", "setup", *args, "-c", str(config_path), env=child_env(),
        stdin=terminal if terminal is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        if typed_into is not None and answer is not None:
            os.write(typed_into, answer)
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        for fd in (typed_into, terminal):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def dry_runs(fakes: FakeServices) -> list[bool]:
    return [request.dry_run for request in fakes.watcher.setup_requests]


@pytest.mark.asyncio
async def test_consent_at_the_terminal_registers(watcher):
    fakes, config_path = watcher
    code, out, err = await setup(config_path, "--public-url", "https://hooks.example", answer=b"y\n")
    assert code == 0, err
    planned, _, done = out.partition("Register these webhooks? [y/N] ")
    assert f"would register  workspace 'Studio' (connection default): {URL}" in planned
    assert "events file.ready, comment.created" in planned
    assert "shows each new webhook's secret once; PostFlow keeps it" in planned
    assert done.startswith(f"registered      workspace 'Studio' (connection default): {URL}")
    assert dry_runs(fakes) == [True, False]
    assert {request.public_url for request in fakes.watcher.setup_requests} == {"https://hooks.example"}


@pytest.mark.asyncio
async def test_no_consent_registers_nothing(watcher):
    fakes, config_path = watcher
    code, out, _ = await setup(config_path, answer=b"n\n")
    assert code == 1 and out.strip().endswith("nothing registered") and dry_runs(fakes) == [True]


@pytest.mark.asyncio
async def test_without_a_terminal_yes_is_needed(watcher):
    fakes, config_path = watcher
    code, _, err = await setup(config_path, "--connection", "default")
    assert code == 1 and "add --yes" in err and dry_runs(fakes) == [True]
    code, out, err = await setup(config_path, "--connection", "default", "--yes")
    assert code == 0 and "registered      workspace 'Studio'" in out, err
    assert dry_runs(fakes) == [True, True, False]
    assert {request.connection for request in fakes.watcher.setup_requests} == {"default"}


@pytest.mark.asyncio
async def test_a_dry_run_only_shows(watcher):
    fakes, config_path = watcher
    code, out, err = await setup(config_path, "--dry-run")
    assert code == 0 and out.startswith("would register") and "Register" not in out, err
    assert dry_runs(fakes) == [True]
