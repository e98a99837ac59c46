"""Pipelines and connections in the config: the issue's example, the single-root config as the
pipeline `default`, connections that borrow the frameio section's client, and every bad input
named by its key."""

from __future__ import annotations

import pytest

from postflow.core.config import ConfigError, build_config
from postflow.core.pipelines import connections_of, pipelines_of

CONTRACT = {
    "connections": {"studio": {"client_id": "cid", "client_secret": "secret", "account_id": "acc-1"}},
    "pipelines": [
        {"name": "showa", "root": "/mnt/lucid/SHOWS/A/OUT", "connection": "studio",
         "project": "Show A", "folder": "{seq}/{shot}", "create_projects": True,
         "rules": [{"match": "{seq}/{shot}/*", "project": "Show A", "folder": "{seq}/{shot}"}],
         "on_start": "new-only", "after_delivery": "none"}]}


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        build_config(data)
    return str(caught.value)


def test_the_issue_example_is_one_pipeline_on_its_named_connection():
    config = build_config(CONTRACT)
    [pipeline] = pipelines_of(config)
    assert (pipeline.name, pipeline.connection, pipeline.project, pipeline.on_start) == \
        ("showa", "studio", "Show A", "new-only")
    assert pipeline.rules[0].groups == {"seq", "shot"}
    assert connections_of(config)["studio"].account_id == "acc-1"


def test_the_single_root_config_is_the_pipeline_default_into_the_configured_project():
    config = build_config({"watch": {"root": "/media/OUT"}, "frameio": {"project_id": "p-1", "account_id": "a-1"}})
    [pipeline] = pipelines_of(config)
    assert (pipeline.name, pipeline.root, pipeline.connection, pipeline.project, pipeline.folder) == \
        ("default", "/media/OUT", "default", "p-1", "{dir}")
    assert connections_of(config)["default"].account_id == "a-1"
    flat = build_config({"watch": {"root": "/media/OUT", "mirror_folders": False}})
    assert pipelines_of(flat)[0].folder == ""
    assert pipelines_of(build_config({})) == ()


def test_a_connection_without_a_client_uses_the_frameio_sections_and_never_its_account():
    config = build_config({"frameio": {"client_id": "main", "client_secret": "main-secret", "account_id": "a-main",
                                       "client_credentials": True},
                           "connections": {"clientb": {"account_id": "a-b"},
                                           "own": {"client_id": "own", "client_secret": "own-secret"}}})
    connections = connections_of(config)
    assert (connections["clientb"].client_id, connections["clientb"].client_secret,
            connections["clientb"].account_id, connections["clientb"].client_credentials) == \
        ("main", "main-secret", "a-b", True)
    assert (connections["own"].client_id, connections["own"].client_secret, connections["own"].account_id) == \
        ("own", "own-secret", "")
    assert connections["default"].account_id == "a-main"


@pytest.mark.parametrize(("pipelines", "message"), [
    ([{"name": "a", "root": "/m/A"}, {"name": "b", "root": "/m/A/B"}],
     "pipelines[1].root: /m/A/B overlaps the root of pipeline 'a'"),
    ([{"name": "a", "root": "/m/A/"}, {"name": "b", "root": "/m/A"}],
     "pipelines[1].root: /m/A overlaps the root of pipeline 'a'"),
    ([{"name": "a", "root": "/m/A", "rules": [{"match": "{seq}/*", "folder": "{seq}/{shot}"}]}],
     "pipelines[0].rules[0].folder: '{seq}/{shot}' names {shot}, which the rule's match pattern does not capture"),
    ([{"name": "a", "root": "/m/A", "project": "{show}", "rules": [{"match": "{seq}/*"}]}],
     "pipelines[0].rules[0].project: '{show}' names {show}"),
    ([{"name": "a", "root": "/m/A", "folder": "{shot}"}],
     "pipelines[0].folder: '{shot}' names {shot}, which is not a field every path has"),
    ([{"name": "a", "root": "/m/A", "connection": "clientx"}],
     "pipelines[0].connection: unknown connection 'clientx' (known: default, studio)"),
    ([{"name": "a", "root": "/m/A"}, {"name": "a", "root": "/m/B"}], "pipelines[1].name: 'a' names two pipelines"),
    ([{"name": "a", "root": "/m/A", "rules": [{"match": "{seq/*"}]}], "pipelines[0].rules[0].match: '{seq/*': an "
                                                                        "unmatched '{'"),
    ([{"name": "a", "root": "/m/A", "rules": [{"match": "{s}/{s}/*"}]}], "pipelines[0].rules[0].match: {s} appears "
                                                                           "twice"),
    ([{"name": "a", "root": "/m/A", "folder": "{dir!r}"}], "pipelines[0].folder: {dir} in '{dir!r}': a template"),
    ([{"name": "a", "root": "/m/A", "done_dir": "../elsewhere"}], "pipelines[0].done_dir: '../elsewhere'"),
    ([{"name": "a", "root": "/m/A", "on_start": "old"}], "pipelines[0].on_start: expected all or new-only"),
    ([{"name": "a", "root": "/m/A", "after_delivery": "delete"}], "pipelines[0].after_delivery: expected none, "
                                                                    "move or sidecar"),
    ([{"name": "a b", "root": "/m/A"}], "pipelines[0].name: 'a b' is not a name"),
    ([{"root": "/m/A"}], "pipelines[0].name: "),
])
def test_each_bad_pipeline_is_an_error_naming_its_key(pipelines, message):
    error = error_of({"connections": {"studio": {}}, "pipelines": pipelines})
    assert error.startswith(message), error


def test_a_root_in_watch_and_pipelines_is_an_error_and_so_is_a_bad_connection_name():
    assert error_of({"watch": {"root": "/m"}, "pipelines": [{"name": "a", "root": "/n"}]}).startswith(
        "watch.root: give each pipeline its own root")
    assert error_of({"connections": {"client x": {}}}).startswith("connections.client x: 'client x' is not a name")
    assert error_of({"connections": {"c": {"client_secret_x": "s"}}}).startswith(
        "connections.c.client_secret_x: unknown key")
