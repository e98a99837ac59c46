"""`postflow certs create|show|rotate`, the certificates `postflow up` makes before it starts
the services, and the config check's warning when mesh.mtls is off."""

from __future__ import annotations

import datetime as dt
import json
import stat

import pytest

from postflow.cli import main as cli
from postflow.cli.config_check import config_warnings
from postflow.cli.supervisor import Supervisor
from postflow.core.config import build_config, write_config
from postflow.core.mesh.certs import CertPaths, create_ca, issue
from postflow.core.mesh.identity import IDENTITIES

FILES = ["ca.pem", "ca.key", *(f"{name}.{ext}" for name in IDENTITIES for ext in ("pem", "key"))]


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.json"
    write_config({"state_dir": str(tmp_path / "state"), "mesh": {"certs_dir": str(tmp_path / "certs")}}, path)
    return str(path)


@pytest.fixture
def paths(tmp_path):
    return CertPaths(tmp_path / "certs")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def shown(capsys, config_file) -> tuple[int, dict[str, dict]]:
    code, out, _ = run(capsys, "certs", "show", "-c", config_file, "--json")
    return code, {entry["identity"]: entry for entry in json.loads(out)["certificates"]}


def test_create_makes_every_file_private_and_is_idempotent(capsys, config_file, paths):
    code, out, _ = run(capsys, "certs", "create", "-c", config_file)
    assert code == 0 and out.startswith(f"created in {paths.dir}: ca, auth, watcher, streamer, dashboard, admin")
    assert sorted(p.name for p in paths.dir.iterdir()) == sorted(FILES)
    assert stat.S_IMODE(paths.dir.stat().st_mode) == 0o700
    assert {stat.S_IMODE((paths.dir / name).stat().st_mode) for name in FILES} == {0o600}
    before = {name: (paths.dir / name).read_bytes() for name in FILES}

    code, out, _ = run(capsys, "certs", "create", "-c", config_file)
    assert code == 0 and out.startswith("nothing to create")
    assert {name: (paths.dir / name).read_bytes() for name in FILES} == before

    paths.key("streamer").unlink()  # a lost key: only that identity is made again
    code, out, _ = run(capsys, "certs", "create", "-c", config_file)
    assert code == 0 and out.startswith(f"created in {paths.dir}: streamer ")
    assert paths.cert("streamer").read_bytes() != before["streamer.pem"]
    assert paths.ca.read_bytes() == before["ca.pem"]


def test_show_flags_expiring_and_expired_certificates(capsys, config_file, paths):
    assert run(capsys, "certs", "create", "-c", config_file)[0] == 0
    code, entries = shown(capsys, config_file)
    assert code == 0 and {entry["state"] for entry in entries.values()} == {"ok"}
    assert all(entry["issued_by_ca"] for name, entry in entries.items() if name != "ca")
    assert len(entries["watcher"]["fingerprint"].split(":")) == 32

    now = dt.datetime.now(dt.UTC)
    issue(paths, "watcher", not_before=now - dt.timedelta(days=100), days=110)  # 10 days left
    code, entries = shown(capsys, config_file)
    assert code == 0, "expiring is a warning"
    assert (entries["watcher"]["state"], entries["watcher"]["days_left"]) == ("expiring", 9)
    code, out, _ = run(capsys, "certs", "show", "-c", config_file)
    assert code == 0 and "! watcher expires on " in out and "(in 9 days)" in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("watcher")] == [["watcher", "EXPIRING"]]

    issue(paths, "auth", not_before=now - dt.timedelta(days=10), days=5)
    code, out, _ = run(capsys, "certs", "show", "-c", config_file)
    assert code == 1 and "! auth expired on " in out and "→ postflow certs rotate auth" in out
    assert shown(capsys, config_file)[1]["auth"]["state"] == "expired"


def test_show_fails_on_a_missing_certificate_or_one_of_another_ca(capsys, config_file, paths, tmp_path):
    assert run(capsys, "certs", "create", "-c", config_file)[0] == 0
    paths.cert("dashboard").unlink()
    other = CertPaths(tmp_path / "other")
    create_ca(other)
    issue(other, "streamer")
    paths.cert("streamer").write_bytes(other.cert("streamer").read_bytes())
    code, entries = shown(capsys, config_file)
    assert code == 1
    assert (entries["dashboard"]["state"], entries["dashboard"]["problem"]) == (
        "missing", f"{paths.cert('dashboard')} missing")
    assert (entries["streamer"]["state"], entries["streamer"]["issued_by_ca"]) == ("invalid", False)
    assert "not issued by the CA" in entries["streamer"]["problem"]


def test_rotate_reissues_under_the_same_ca_unless_asked_for_a_new_one(capsys, config_file, paths):
    assert run(capsys, "certs", "create", "-c", config_file)[0] == 0
    _, before = shown(capsys, config_file)

    code, out, _ = run(capsys, "certs", "rotate", "watcher", "admin", "-c", config_file)
    assert code == 0 and out.startswith("re-issued watcher, admin under the CA")
    assert "restart to use them: watcher (" in out and "the CLI uses the new admin certificate" in out
    _, after = shown(capsys, config_file)
    changed = {name for name in before if before[name]["fingerprint"] != after[name]["fingerprint"]}
    assert changed == {"watcher", "admin"}
    assert all(entry["state"] == "ok" for entry in after.values())

    code, out, _ = run(capsys, "certs", "rotate", "--ca", "-c", config_file)
    assert code == 0 and "restart to use them: auth, watcher, streamer, dashboard" in out
    _, renewed = shown(capsys, config_file)
    assert all(renewed[name]["fingerprint"] != after[name]["fingerprint"] for name in renewed)
    assert all(entry["state"] == "ok" and entry["issued_by_ca"] is not False for entry in renewed.values())


def test_rotate_names_the_problem(capsys, config_file, paths):
    assert run(capsys, "certs", "create", "-c", config_file)[0] == 0
    code, _, err = run(capsys, "certs", "rotate", "watcher", "wacher", "-c", config_file)
    assert code == 1
    assert "unknown identity 'wacher': the identities are auth, watcher, streamer, dashboard, admin" in err
    code, _, err = run(capsys, "certs", "rotate", "watcher", "--ca", "-c", config_file)
    assert code == 1 and "name no identity with it" in err

    paths.ca_key.unlink()
    before = paths.cert("watcher").read_bytes()
    code, _, err = run(capsys, "certs", "rotate", "watcher", "-c", config_file)
    assert code == 1 and f"the CA key {paths.ca_key} is missing" in err and "--ca" in err
    assert paths.cert("watcher").read_bytes() == before


def test_an_unwritable_directory_is_named(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = tmp_path / "config.json"
    write_config({"mesh": {"certs_dir": str(blocker / "certs")}}, config)
    code, _, err = run(capsys, "certs", "create", "-c", str(config))
    assert code == 1 and f"certificates directory {blocker / 'certs'}" in err and "Not a directory" in err


@pytest.mark.parametrize("mtls", [True, False])
def test_up_creates_the_certificates_before_it_starts_the_services(monkeypatch, capsys, tmp_path, mtls):
    config = tmp_path / "config.json"
    write_config({"state_dir": str(tmp_path / "state"), "mesh": {"mtls": mtls}}, config)
    certs = CertPaths(tmp_path / "state" / "certs")
    seen = []

    async def run_services(self):
        seen.append(sorted(p.name for p in certs.dir.iterdir()) if certs.dir.exists() else [])
        return 0

    monkeypatch.setattr(Supervisor, "run", run_services)
    code, _, err = run(capsys, "up", "-c", str(config))
    assert code == 0
    assert seen == [sorted(FILES) if mtls else []]
    assert ("created mesh certificates in" in err) is mtls


def test_check_config_warns_when_mtls_is_off():
    assert not any("mesh.mtls" in warning for warning in config_warnings(build_config({})))
    warnings = config_warnings(build_config({"mesh": {"mtls": False}}))
    assert any(warning.startswith("mesh.mtls is off: every gRPC port is plaintext") for warning in warnings)
