"""Routing: the pipeline by root, the first rule that matches the relative path, its groups in
the destination's templates; unrouted paths say why."""

from __future__ import annotations

import pytest

from postflow.core.config import build_config
from services.watcher.routing import NotRouted, Router


def router(*pipelines: dict, **sections: dict) -> Router:
    return Router(build_config({"connections": {"studio": {}, "clientb": {}}, "pipelines": list(pipelines),
                                **sections}))


SHOWS = {"name": "shows", "root": "/m/SHOWS", "connection": "studio", "folder": "{seq}/{shot}", "mode": "push",
         "rules": [{"match": "{show}/OUT/{seq}/{shot}/*", "project": "{show}"},
                   {"match": "{show}/OUT/**/*.mov", "project": "{show}", "folder": "loose/{dir}"},
                   {"match": "REF/*", "project": "Reference", "folder": ""}]}


def test_the_first_matching_rule_fills_project_and_folder_from_its_groups():
    route = router(SHOWS).route("/m/SHOWS/ShowA/OUT/SQ01/SH010/cut_v2.mov")
    assert route.as_dict() == {"pipeline": "shows", "connection": "studio", "project": "ShowA",
                               "folder": "SQ01/SH010", "name": "cut_v2.mov", "mode": "push",
                               "rule": "rules[0]: {show}/OUT/{seq}/{shot}/*"}


def test_later_rules_catch_what_earlier_ones_do_not_and_double_star_spans_folders():
    routes = router(SHOWS)
    deep = routes.route("/m/SHOWS/ShowA/OUT/a/b/c/x.mov")
    assert (deep.project, deep.folder, deep.rule) == ("ShowA", "loose/ShowA/OUT/a/b/c", "rules[1]: {show}/OUT/**/*.mov")
    top = routes.route("/m/SHOWS/ShowA/OUT/x.mov")
    assert (top.folder, top.rule) == ("loose/ShowA/OUT", "rules[1]: {show}/OUT/**/*.mov")
    ref = routes.route("/m/SHOWS/REF/board.pdf")
    assert (ref.project, ref.folder) == ("Reference", "")


def test_a_path_no_rule_matches_is_unrouted_and_says_so():
    with pytest.raises(NotRouted, match=r"ShowA/OUT/SQ01/notes.txt: unrouted, no rule of pipeline 'shows'"):
        router(SHOWS).route("/m/SHOWS/ShowA/OUT/SQ01/notes.txt")


def test_without_rules_a_file_goes_to_the_pipelines_project_mirroring_its_folder_in_the_configured_mode():
    routes = router({"name": "plain", "root": "/m/PLAIN", "project": "Dailies"}, transfer={"mode": "pull"})
    route = routes.route("/m/PLAIN/day1/cam_a/A001.mov")
    assert (route.pipeline, route.connection, route.project, route.folder, route.mode, route.rule) == \
        ("plain", "default", "Dailies", "day1/cam_a", "pull", "no rules: the pipeline's own")
    assert routes.route("/m/PLAIN/top.mov").folder == ""


def test_each_root_picks_its_pipeline_and_filters_apply_per_pipeline():
    routes = router({"name": "a", "root": "/m/A", "include": ["*.mov"]},
                    {"name": "b", "root": "/m/B", "connection": "clientb"})
    assert routes.route("/m/B/notes.txt").connection == "clientb"
    with pytest.raises(NotRouted, match="notes.txt: left out by pipeline 'a'"):
        routes.route("/m/A/notes.txt")
    with pytest.raises(NotRouted, match="left out"):
        routes.route("/m/B/.hidden/x.mov")  # the watch section's exclude, as no pipeline key says otherwise
    with pytest.raises(NotRouted, match=r"/m/C/x.mov: under no pipeline's root \(roots: a \(/m/A\), b \(/m/B\)\)"):
        routes.route("/m/C/x.mov")
    with pytest.raises(NotRouted, match="under no pipeline's root"):
        routes.route("/m/A")


def test_a_relative_path_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routes = router({"name": "here", "root": str(tmp_path / "OUT")})
    assert routes.route("OUT/SQ1/a.mov").folder == "SQ1"


def test_the_key_that_named_a_routes_project_is_given_for_its_errors():
    routes = router(SHOWS, {"name": "plain", "root": "/m/PLAIN", "project": "Dailies"}).pipelines
    shows = routes["shows"]
    assert shows.project_key(shows.route("ShowA/OUT/SQ01/SH010/a.mov").rule) == "pipelines[0].rules[0].project"
    assert routes["plain"].project_key(routes["plain"].route("a.mov").rule) == "pipelines[1].project"
    no_own_project = router({"name": "p", "root": "/m/P", "project": "X", "rules": [{"match": "*"}]}).pipelines["p"]
    assert no_own_project.project_key("rules[0]: *") == "pipelines[0].project"
    legacy = Router(build_config({"watch": {"root": "/m/OUT"}})).pipelines["default"]
    assert legacy.project_key("no rules: the pipeline's own") == "frameio.project_id"
