"""`postflow route PATH`: the contract's JSON, the table, and an unrouted path (exit 1, why)."""

from __future__ import annotations

import json

from postflow.cli.main import main

CONFIG = {"connections": {"studio": {"client_id": "cid", "client_secret": "s", "account_id": "acc"}},
          "pipelines": [{"name": "showa", "root": "/mnt/lucid/SHOWS/A/OUT", "connection": "studio",
                         "project": "Show A", "folder": "{seq}/{shot}", "create_projects": True,
                         "rules": [{"match": "{seq}/{shot}/*", "project": "Show A", "folder": "{seq}/{shot}"}],
                         "on_start": "new-only", "after_delivery": "none"}]}


def route(tmp_path, capsys, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG))
    code = main(["route", "-c", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_exactly_the_contract_keys(tmp_path, capsys):
    code, out, _ = route(tmp_path, capsys, "/mnt/lucid/SHOWS/A/OUT/SQ01/SH010/cut.mov", "--json")
    assert code == 0
    assert json.loads(out) == {"pipeline": "showa", "connection": "studio", "project": "Show A",
                               "folder": "SQ01/SH010", "name": "cut.mov", "mode": "auto",
                               "rule": "rules[0]: {seq}/{shot}/*"}


def test_the_table_names_each_field(tmp_path, capsys):
    code, out, _ = route(tmp_path, capsys, "/mnt/lucid/SHOWS/A/OUT/SQ01/SH010/cut.mov")
    assert code == 0
    assert out.splitlines()[2].split(None, 1) == ["project", "Show A"]
    assert out.splitlines()[-1].split(None, 1) == ["rule", "rules[0]: {seq}/{shot}/*"]


def test_an_unrouted_path_exits_1_saying_why(tmp_path, capsys):
    code, out, err = route(tmp_path, capsys, "/mnt/lucid/SHOWS/A/OUT/SQ01/cut.mov", "--json")
    assert (code, out) == (1, "")
    assert err == "postflow route: SQ01/cut.mov: unrouted, no rule of pipeline 'showa' matches it\n"


def test_a_bad_config_is_a_config_error(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"pipelines": [{"name": "a", "root": "/m", "connection": "nope"}]}))
    assert main(["route", "-c", str(path), "/m/x.mov"]) == 2
    assert "pipelines[0].connection: unknown connection 'nope'" in capsys.readouterr().err


def check_config(tmp_path, capsys, pipelines: list[dict]) -> tuple[int, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"frameio": {"client_id": "id", "client_secret": "secret"},
                                "state_dir": str(tmp_path / "state"), "pipelines": pipelines}))
    code = main(["check-config", "-c", str(path)])
    return code, capsys.readouterr().err


def test_check_config_wants_every_pipelines_root(tmp_path, capsys):
    (tmp_path / "A").mkdir()
    code, err = check_config(tmp_path, capsys, [{"name": "a", "root": str(tmp_path / "A")},
                                                {"name": "b", "root": str(tmp_path / "B"), "after_delivery": "move"}])
    assert code == 2
    assert f"config error: pipelines[1].root: {tmp_path / 'B'} is not a directory" in err


def test_an_action_that_writes_on_a_read_only_root_is_a_config_error_naming_the_key(tmp_path, capsys):
    from postflow.devtools.slowfs import mounted

    (tmp_path / "backing").mkdir()
    with mounted(tmp_path / "backing", tmp_path / "ro", ro_flag=True):
        code, err = check_config(tmp_path, capsys, [{"name": "a", "root": str(tmp_path / "ro"),
                                                     "after_delivery": "sidecar"}])
        assert code == 2
        assert (f'config error: pipelines[0].after_delivery: "sidecar" writes into the root, but {tmp_path / "ro"} '
                "is read-only here") in err
        code, err = check_config(tmp_path, capsys, [{"name": "a", "root": str(tmp_path / "ro")}])
        assert code == 0, err
