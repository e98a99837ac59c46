"""How `postflow` reads its arguments: `emulator` and `migrate-config` hand every argument,
options first included, to their own parsers; other commands refuse what they do not know."""

import json

import pytest

from postflow.cli.main import main


def test_emulator_help_is_the_emulators_own(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["emulator", "--help"])
    usage = capsys.readouterr().out
    assert exit_.value.code == 0
    assert usage.startswith("usage: postflow emulator") and "--port PORT" in usage and "--no-rate-limits" in usage


def test_emulator_refuses_a_flag_it_does_not_have(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["emulator", "--port", "0", "--colour"])
    assert exit_.value.code == 2
    assert "postflow emulator: error: unrecognized arguments: --colour" in capsys.readouterr().err


def test_migrate_config_takes_its_option_before_the_file(tmp_path, capsys):
    old, new = tmp_path / "v3.json", tmp_path / "v4.json"
    old.write_text(json.dumps({"frameio": {"server_to_server": True, "client_id": "server_app_id"}}))
    assert main(["migrate-config", "-o", str(new), str(old)]) == 0
    assert json.loads(new.read_text())["frameio"]["oauth_web_app"] is True


def test_other_commands_refuse_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["jobs", "--json", "--colour"])
    assert exit_.value.code == 2 and "postflow: error: unrecognized arguments: --colour" in capsys.readouterr().err
