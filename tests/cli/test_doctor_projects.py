"""`postflow doctor` looks up every project the pipelines name outright, as deliveries will: a
line each, a name two projects share failing with its config key, a missing one passing only
when the pipeline creates projects."""

from __future__ import annotations

import io
from types import SimpleNamespace

import httpx
import pytest

from postflow.cli.doctor.checks import Checks
from postflow.cli.doctor.report import Report
from postflow.core.config import build_config
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.seed import AccountSpec, ProjectSpec, SeedSpec, UserSpec, WorkspaceSpec
from postflow.emulator.server import running_emulator
from postflow.frameio import FrameioClient
from postflow.testing.emulator import client_credentials_token
from postflow.v1 import auth_pb2

SEED = SeedSpec(users=(UserSpec("Studio", "studio@postflow.invalid"),), accounts=(AccountSpec("Alpha", workspaces=(
    WorkspaceSpec("Main", projects=(ProjectSpec("Show A"), ProjectSpec("Twice"), ProjectSpec("Twice"))),)),))


class Auth:
    def __init__(self, token: str) -> None:
        self.token = token

    async def GetAccessToken(self, request, timeout=None) -> auth_pb2.AccessToken:
        return auth_pb2.AccessToken(access_token=self.token)


@pytest.mark.asyncio
async def test_each_named_project_is_looked_up_and_an_ambiguous_one_fails_naming_its_key(tmp_path):
    async with running_emulator(EmulatorOptions(seed=SEED, rate_limits=False)) as emulator, \
            httpx.AsyncClient(timeout=20) as http:
        token = await client_credentials_token(emulator.url)
        frameio_keys = {"api_base_url": emulator.url, "ims_base_url": emulator.url}
        config = build_config({"frameio": frameio_keys, "pipelines": [
            {"name": "a", "root": str(tmp_path / "a"), "project": "Show A",
             "rules": [{"match": "REF/*", "project": "Twice"}, {"match": "{show}/*", "project": "{show}"}]},
            {"name": "b", "root": str(tmp_path / "b"), "project": "Show Z", "create_projects": True},
            {"name": "c", "root": str(tmp_path / "c"), "project": "Show Y"}]})
        out = io.StringIO()
        report = Report(out)
        frameio = FrameioClient(config.frameio, None, http, max_retries=0)  # type: ignore[arg-type]
        await Checks(config, SimpleNamespace(auth=Auth(token)), http, frameio, report).named_projects()
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["✗", "pipelines[0].rules[0].project"],
                                                    ["✓", "pipelines[1].project"], ["✗", "pipelines[2].project"]]
    assert "project 'Twice' names 2 projects of account 'Alpha'" in lines[0] and "→ correct" in lines[0]
    assert "'Show Z' will be created at the first delivery" in lines[1]
    assert "no project named 'Show Y'" in lines[2]
    assert not report.passed
