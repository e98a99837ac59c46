"""A starting watcher looks up the projects its pipelines name once their connection is
connected: a name two Frame.io projects share is logged as a config error naming the key and
both projects, before any file is sent its way."""

from __future__ import annotations

import logging

import pytest

from postflow.emulator.options import EmulatorOptions
from postflow.emulator.seed import AccountSpec, ProjectSpec, SeedSpec, UserSpec, WorkspaceSpec
from postflow.testing.polling import wait_for
from postflow.testing.watcher import environment, error_records, start_watcher
from postflow.v1 import auth_pb2

FIRST, SECOND = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
SEED = SeedSpec(users=(UserSpec("Studio", "studio@postflow.invalid"),), accounts=(AccountSpec("Alpha", workspaces=(
    WorkspaceSpec("Dailies", projects=(ProjectSpec("Show A"), ProjectSpec("Twice", id=FIRST))),
    WorkspaceSpec("Finals", projects=(ProjectSpec("Twice", id=SECOND),)))),))


@pytest.mark.asyncio
async def test_a_project_name_two_projects_share_is_a_config_error_naming_the_key_once_connected(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    pipelines = [{"name": name, "root": str(tmp_path / name), "project": project}
                 for name, project in (("shows", "Show A"), ("finals", "Twice"))]
    for pipeline in pipelines:
        (tmp_path / pipeline["name"]).mkdir()
    async with environment(tmp_path, watch={"root": ""}, emulator=EmulatorOptions(seed=SEED, rate_limits=False),
                           extra={"pipelines": pipelines}) as env:
        env.auth.set_status(state=auth_pb2.AUTH_STATE_DISCONNECTED)
        await start_watcher(env)
        status = env.watchers[0].service.auth_status  # in-process: the service itself
        await wait_for(lambda: status is not None and not status.connected, timeout=5,
                       message="the watcher told it is disconnected")
        assert (env.auth.requests, error_records(caplog)) == ([], []), "nothing is looked up before it is connected"
        env.auth.set_status(state=auth_pb2.AUTH_STATE_CONNECTED)
        [error] = await wait_for(lambda: error_records(caplog), timeout=10, message="the config error")
    message = error.getMessage()
    assert message.startswith("config error: pipelines[1].project: project 'Twice' names 2 projects"), message
    assert f"{FIRST} in workspace 'Dailies'" in message and f"{SECOND} in workspace 'Finals'" in message
    assert error.name == "services.watcher.projects"
