"""`postflow migrate-config`: v3 examples become loadable v4 configs with Console steps; inputs
that are not v3 or not JSON get a clear error; services refuse a v3 config."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from postflow.cli.migrate import MigrationError, main, migrate_config
from postflow.core.config import ConfigError, load_config, require_client
from postflow.testing.processes import child_env

SEED_V3 = {"frameio": {"server_to_server": True, "private_key_path": "path/to/key.pem",
                       "client_id": "server_app_id", "manual_token_refresh": True}}


def v4_with_credentials(new: dict) -> dict:
    return {**new, "frameio": {**new["frameio"], "client_id": "web-id", "client_secret": "web-secret"}}


def test_the_seed_example_becomes_v4_and_loads(tmp_path):
    new, steps = migrate_config(SEED_V3)
    fio = new["frameio"]
    assert fio["oauth_web_app"] is True and fio["auto_token_refresh"] is True and fio["api_version"] == "v4"
    assert not set(fio) & {"server_to_server", "private_key_path", "manual_token_refresh"}
    assert fio["client_id"] == "" and fio["client_secret"] == ""  # the v3 id belongs to the old credential
    assert fio["redirect_uri"] == "https://localhost:8000/auth/callback"
    text = "\n".join(steps)
    assert "OAuth Web App" in text and "offline_access" in text and "https://localhost:8000/auth/callback" in text
    assert "path/to/key.pem" in text and "server_app_id" in text
    path = tmp_path / "v4.json"
    path.write_text(json.dumps(v4_with_credentials(new)))
    config = load_config(path, env={})
    require_client(config)
    assert config.frameio.oauth_web_app and config.frameio.auto_token_refresh


def test_extra_keys_are_kept_when_v4_knows_them_and_reported_when_dropped(tmp_path):
    old = {
        "frameio": {**SEED_V3["frameio"], "account_id": "acc-1", "project_id": "proj-1",
                    "api_base_url": "https://api.frame.io/v2", "technical_account_id": "abc@techacct.adobe.com",
                    "redirect_uri": "https://post.example.com/auth/callback"},
        "watch": {"root": str(tmp_path), "poll_interval_s": 5},
        "dashboard": {"listen": "127.0.0.1:9000"},
    }
    new, steps = migrate_config(old)
    fio = new["frameio"]
    assert fio["account_id"] == "acc-1" and fio["project_id"] == "proj-1"
    assert fio["redirect_uri"] == "https://post.example.com/auth/callback"
    assert "api_base_url" not in fio and "technical_account_id" not in fio
    assert new["watch"] == old["watch"] and new["dashboard"] == old["dashboard"]
    dropped = [s for s in steps if "dropped" in s]
    assert dropped and "frameio.technical_account_id" in dropped[0] and "frameio.api_base_url" in dropped[0]
    assert r"https://post\.example\.com/auth/callback" in "\n".join(steps)  # the Console's regex pattern
    path = tmp_path / "v4.json"
    path.write_text(json.dumps(v4_with_credentials(new)))
    assert load_config(path, env={}).watch.poll_interval_s == 5


def test_redirect_uri_follows_the_dashboard_port_and_other_problems_are_reported():
    new, steps = migrate_config({"frameio": {"manual_token_refresh": False}, "dashboard": {"listen": "0.0.0.0:8443"},
                                 "uploader": {"threads": 4}})
    assert new["frameio"]["redirect_uri"] == "https://localhost:8443/auth/callback"
    assert any("uploader" in s and "still needs a fix" in s for s in steps)


@pytest.mark.parametrize("old, message", [
    ({"frameio": {"oauth_web_app": True, "client_id": "x", "api_version": "v4"}}, "looks like a v4 config"),
    ({"watch": {"root": "/x"}}, "no `frameio` section"),
    ([1, 2], "top level"),
])
def test_inputs_that_are_not_v3_are_refused(old, message):
    with pytest.raises(MigrationError, match=message):
        migrate_config(old)


def test_cli_writes_a_private_file_and_prints_steps(tmp_path, capsys):
    old = tmp_path / "v3.json"
    old.write_text(json.dumps(SEED_V3))
    new = tmp_path / "out" / "v4.json"
    assert main([str(old), "-o", str(new)]) == 0
    assert json.loads(new.read_text())["frameio"]["oauth_web_app"] is True
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o600
    err = capsys.readouterr().err
    assert "Adobe Developer Console" in err and "1. " in err


def test_cli_prints_to_stdout_without_output(tmp_path, capsys):
    old = tmp_path / "v3.json"
    old.write_text(json.dumps(SEED_V3))
    assert main([str(old)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["frameio"]["api_version"] == "v4"
    assert "OAuth Web App" in out.err and "OAuth Web App" not in out.out


@pytest.mark.parametrize("content, message", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "top level must be an object"),
    (json.dumps({"frameio": {"oauth_web_app": True}}), "not a v3 config"),
])
def test_cli_errors_are_clear(tmp_path, capsys, content, message):
    old = tmp_path / "old.json"
    old.write_text(content)
    assert main([str(old), "-o", str(tmp_path / "new.json")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new.json").exists()


def test_cli_refuses_to_overwrite_its_input(tmp_path, capsys):
    old = tmp_path / "v3.json"
    old.write_text(json.dumps(SEED_V3))
    assert main([str(old), "-o", str(old)]) == 1
    assert "refusing" in capsys.readouterr().err
    assert json.loads(old.read_text()) == SEED_V3


def test_the_auth_service_refuses_a_v3_config(tmp_path):
    old = tmp_path / "v3.json"
    old.write_text(json.dumps({**SEED_V3, "state_dir": str(tmp_path / "state")}))
    result = subprocess.run([sys.executable, "-m", "services.auth", "-c", str(old)], env=child_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "frameio.server_to_server" in result.stderr and "postflow migrate-config" in result.stderr
    with pytest.raises(ConfigError):
        load_config(old, env={})
