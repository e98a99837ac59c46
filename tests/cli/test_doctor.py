"""`postflow doctor` without a running PostFlow: the login line from the auth service's status
(re-login deadline, warning, reconnect needed), an unusable config, and nothing answering."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from postflow.cli.doctor import diagnose
from postflow.cli.doctor.checks import Checks, check_config, report_login
from postflow.cli.doctor.live import RoundTrip
from postflow.cli.doctor.report import Report
from postflow.core.config import build_config
from postflow.core.protos import timestamp
from postflow.frameio import ProjectRef
from postflow.testing.mesh import MESH_OFF
from postflow.testing.ports import free_port
from postflow.v1 import auth_pb2
from services.dashboard.views import auth_view
from services.watcher.routing import Router

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def login_line(**status) -> tuple[str, bool]:
    out = io.StringIO()
    report = Report(out)
    connected = report_login(auth_view(auth_pb2.AuthStatus(**status)), report, now=NOW)
    (line,) = out.getvalue().splitlines()
    assert report.passed == (not line.startswith("✗"))
    return line, connected


def test_connected_shows_the_relogin_deadline():
    line, connected = login_line(state=auth_pb2.AUTH_STATE_CONNECTED, user_email="ed@example.com",
                                 reauth_deadline=timestamp(NOW.timestamp() + 14 * 86400))
    assert connected
    assert line == "✓ Frame.io login  connected as ed@example.com; reconnect by 2026-12-21 10:00 UTC (in 14 days)"


def test_the_time_left_is_rounded():
    line, _ = login_line(state=auth_pb2.AUTH_STATE_CONNECTED, user_name="ed",
                         reauth_deadline=timestamp(NOW.timestamp() + 14 * 86400 - 90))
    assert line.endswith("reconnect by 2026-12-21 09:58 UTC (in 14 days)")


def test_a_near_deadline_is_a_warning_that_still_passes():
    line, connected = login_line(state=auth_pb2.AUTH_STATE_CONNECTED, user_email="ed@example.com",
                                 reauth_deadline=timestamp(NOW.timestamp() + 5 * 3600), reauth_soon=True)
    assert connected and line.startswith("! Frame.io login")
    assert "reconnect by 2026-12-07 15:00 UTC (in 5 hours) → log in again before then: `postflow login`" in line


def test_server_to_server_has_no_deadline():
    line, connected = login_line(state=auth_pb2.AUTH_STATE_CONNECTED, user_name="svc",
                                 grant=auth_pb2.GRANT_KIND_SERVER_TO_SERVER)
    assert connected and line == "✓ Frame.io login  connected as svc (server-to-server: no login to renew)"


@pytest.mark.parametrize(("state", "says"), [
    (auth_pb2.AUTH_STATE_RECONNECT_NEEDED, "reconnect needed: IMS answered invalid_grant"),
    (auth_pb2.AUTH_STATE_DISCONNECTED, "not connected: IMS answered invalid_grant"),
])
def test_a_dead_login_fails_and_says_to_log_in(state, says):
    line, connected = login_line(state=state, message="IMS answered invalid_grant")
    assert not connected
    assert line.startswith(f"✗ Frame.io login  {says} → connect Frame.io again: `postflow login`")


@pytest.mark.asyncio
async def test_an_invalid_config_fails_first_and_skips_the_rest(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"frameio": {"client_id": "x", "client_secret": "y"}, "watch": {"root": "/nowhere"}}))
    out = io.StringIO()
    assert await diagnose(str(path), live=True, out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("✗ config          watch.root: /nowhere is not a directory → ")
    assert lines[1].startswith("- the rest")
    assert lines[-1] == "1 check failed"


@pytest.mark.asyncio
async def test_nothing_answering_fails_each_reachability_check_and_skips_what_depends_on_them(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "config.json"
    path.write_text(json.dumps({
        "frameio": {"client_id": "x", "client_secret": "y", "ims_base_url": closed, "api_base_url": closed},
        "watch": {"root": str(tmp_path)}, "state_dir": str(tmp_path / "state"), "mesh": MESH_OFF,
        "dashboard": {"listen": f"127.0.0.1:{free_port()}"},
        "services": {name: f"127.0.0.1:{free_port()}" for name in ("auth", "watcher", "streamer")}}))
    out = io.StringIO()
    assert await diagnose(str(path), live=True, out=out) == 1
    lines = out.getvalue().splitlines()
    by_check = {line[2:17].strip(): line for line in lines if line[:2] in ("✓ ", "✗ ", "- ")}
    assert by_check["config"].startswith("✓")
    assert by_check["IMS"].startswith(f"✗ IMS             {closed}: no answer (ConnectError")
    assert "→ check frameio.ims_base_url" in by_check["IMS"]
    assert "→ check frameio.api_base_url" in by_check["Frame.io API"]
    services = by_check["services"]
    assert services.startswith("✗ services        auth unreachable, watcher unreachable, streamer unreachable, "
                               "dashboard unreachable → start PostFlow (`postflow up`)")
    for check in ("watch root", "Frame.io login", "project", "public URL", "Frame.io hooks", "round trip"):
        assert by_check[check].startswith("- "), by_check[check]
    assert lines[-1] == "3 checks failed"


class PickedFrameio:
    """A Frame.io client whose discovery picked one project of three."""

    async def project(self) -> ProjectRef:
        return ProjectRef("acc-1", "prj-1", "root-1", "Studio", "ws-1", "Main", "Dailies", candidates=3)


@pytest.mark.asyncio
async def test_a_project_picked_among_several_is_a_warning_saying_how_to_pin_it():
    out = io.StringIO()
    report = Report(out)
    project = await Checks(build_config({}), None, None, PickedFrameio(), report).project()
    assert project is not None and report.passed
    assert out.getvalue() == ("! project         project 'Dailies' (prj-1) in workspace 'Main' (ws-1) of account "
                              "'Studio' (acc-1), and 2 other projects visible → set frameio.project_id to pin the "
                              "one PostFlow delivers into\n")


@pytest.mark.asyncio
@pytest.mark.parametrize("public_url", ["http://127.0.0.1:8080", "http://192.168.1.20:8080", "http://localhost:8080"])
async def test_a_local_public_url_fails_against_the_real_frameio(public_url):
    out = io.StringIO()
    report = Report(out)
    config = build_config({"frameio": {"api_base_url": "https://api.frame.io"}})
    await Checks(config, None, None, None, report).public_url({"mode": "none", "state": "up", "url": public_url})
    assert not report.passed
    assert out.getvalue().startswith(f"✗ public URL      {public_url} is a local address: Frame.io's servers cannot "
                                     "fetch from it → give the streamer a public URL")


def test_check_configs_warnings_are_warning_lines(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"frameio": {"client_id": "x", "client_secret": "y",
                                            "redirect_uri": "http://postflow.example.com/auth/callback"},
                                "watch": {"root": str(tmp_path)}}))
    out = io.StringIO()
    report = Report(out)
    assert check_config(str(path), report) is not None and report.passed
    lines = out.getvalue().splitlines()
    assert lines[0] == f"✓ config          {path} loads and validates"
    assert lines[1].startswith("! config          frameio.redirect_uri is http://postflow.example.com/auth/callback: "
                               "Adobe IMS redirects only to https URIs")


class EmptyProject:
    """A Frame.io project with nothing in it yet: the doctor's folder gets created."""

    async def list_children(self, account_id: str, folder_id: str) -> list:
        return []

    async def create_folder(self, account_id: str, parent_id: str, name: str) -> SimpleNamespace:
        return SimpleNamespace(id="folder-1")


@pytest.mark.asyncio
async def test_a_round_trip_the_watcher_would_see_is_refused_and_nothing_is_left(tmp_path):
    config = build_config({"watch": {"root": str(tmp_path), "exclude": ["*.tmp"]}})
    out = io.StringIO()
    project = ProjectRef("acc-1", "prj-1", "root-1")
    [pipeline] = Router(config).pipelines.values()
    await RoundTrip(pipeline, None, None, EmptyProject(), project, Report(out)).run()
    lines = [re.sub(r" \(\d+\.\d s\)", "", line) for line in out.getvalue().splitlines()]  # timings dropped
    assert lines == [
        "✓ folder          postflow-doctor created in the project's root folder",
        "✗ remote upload   watch.exclude does not hide .postflow-doctor/, so the watcher would deliver the test file "
        "as a job → add \".*\" to watch.exclude",
        "- local upload    skipped: the remote upload step failed",
        "- version stack   skipped: the remote upload step failed",
        "✓ clean-up        nothing was made in Frame.io",
    ]
    assert list(tmp_path.iterdir()) == []
