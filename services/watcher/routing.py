"""Where a file goes: its pipeline (by root), and within it the first routing rule that
matches its relative path, whose groups fill the destination's templates (see
postflow/core/pipelines.py). One answer for the watcher, `postflow route` and the dashboard."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from postflow.core.config import Config
from postflow.core.pipelines import PipelineConfig, compile_pattern, pipelines_of, template_fields
from services.watcher.scanner import PathFilter


@dataclass(frozen=True)
class Route:
    """Where one file goes, and why (`rule`: the rule that matched, or why none was needed)."""

    pipeline: str
    connection: str
    project: str  # an id or a name
    folder: str  # under the project's root folder; "" = the root folder
    name: str
    mode: str  # auto, pull or push
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {"pipeline": self.pipeline, "connection": self.connection, "project": self.project,
                "folder": self.folder, "name": self.name, "mode": self.mode, "rule": self.rule}


class NotRouted(Exception):
    """A path with no destination; the message says why (outside every root, filtered out,
    or matched by no rule)."""


@dataclass(frozen=True)
class PipelineRoutes:
    """One pipeline's root, filter and compiled rules."""

    config: PipelineConfig
    root: Path
    path_filter: PathFilter
    mode: str
    rules: tuple[re.Pattern[str], ...]
    key: str  # where the config has it: "pipelines[2]", or "" for the single-root config's `default`

    @classmethod
    def build(cls, pipeline: PipelineConfig, config: Config) -> PipelineRoutes:
        path_filter = PathFilter(config.watch.include if pipeline.include is None else pipeline.include,
                                 config.watch.exclude if pipeline.exclude is None else pipeline.exclude,
                                 written_folders(pipeline, config))
        key = f"pipelines[{config.pipelines.index(pipeline)}]" if config.pipelines else ""
        return cls(pipeline, Path(pipeline.root).expanduser(), path_filter, pipeline.mode or config.transfer.mode,
                   tuple(compile_pattern(rule.match) for rule in pipeline.rules), key)

    def project_key(self, route_rule: str) -> str:
        """The config key that named the project of a route that `route_rule` decided."""
        if not self.key:
            return "frameio.project_id"
        rule = route_rule.partition(":")[0]
        if rule.startswith("rules[") and self.config.rules[int(rule[6:-1])].project is not None:
            return f"{self.key}.{rule}.project"
        return f"{self.key}.project"

    def route(self, relpath: str, check_filter: bool = True) -> Route:
        """The route of `relpath` (relative to the root, '/'-separated); NotRouted if none.
        `check_filter` false: a file include/exclude leaves out is routed too (one submitted);
        one in the done_dir (it was delivered) or the copy_to folder (an approved copy) never is."""
        pipeline = self.config
        if folder := self.path_filter.skipped(relpath):
            if folder == pipeline.done_folder and pipeline.after_delivery == "move":
                raise NotRouted(f"{relpath}: in the done_dir of pipeline {pipeline.name!r}, where delivered files go")
            raise NotRouted(f"{relpath}: in the review.on_approved.copy_to folder of pipeline {pipeline.name!r}, "
                            "where approved masters are copied")
        if check_filter and not self.path_filter.accepts(relpath):
            raise NotRouted(f"{relpath}: left out by pipeline {pipeline.name!r}'s include/exclude")
        fields = {"dir": posixpath.dirname(relpath), "file": posixpath.basename(relpath), "pipeline": pipeline.name}
        if not pipeline.rules:
            return self._route(relpath, pipeline.project, pipeline.folder, fields, "no rules: the pipeline's own")
        for index, (rule, pattern) in enumerate(zip(pipeline.rules, self.rules, strict=True)):
            matched = pattern.fullmatch(relpath)
            if matched:
                return self._route(relpath, pipeline.project if rule.project is None else rule.project,
                                   pipeline.folder if rule.folder is None else rule.folder,
                                   {**fields, **matched.groupdict()}, f"rules[{index}]: {rule.match}")
        raise NotRouted(f"{relpath}: unrouted, no rule of pipeline {pipeline.name!r} matches it")

    def _route(self, relpath: str, project: str, folder: str, fields: dict[str, str], why: str) -> Route:
        folder = "/".join(part for part in folder.format_map(fields).split("/") if part)
        return Route(self.config.name, self.config.connection, project.format_map(fields).strip(), folder,
                     posixpath.basename(relpath), self.mode, why)


def written_folders(pipeline: PipelineConfig, config: Config) -> list[str]:
    """The folders under the pipeline's root that PostFlow itself fills, never scanned: the
    done_dir (after_delivery "move"), the folder approved masters are copied into."""
    folders = [pipeline.done_folder] if pipeline.after_delivery == "move" else []
    on_approved = config.review.actions(pipeline.review).on_approved
    if on_approved is not None and on_approved.copy_folder:
        folders.append(on_approved.copy_folder)
    return folders


class Router:
    def __init__(self, config: Config) -> None:
        self.pipelines = {pipeline.name: PipelineRoutes.build(pipeline, config) for pipeline in pipelines_of(config)}

    def locate(self, path: str | os.PathLike[str]) -> tuple[PipelineRoutes, str]:
        """The pipeline whose root holds `path` (absolute, or relative to the working directory),
        and the path relative to that root."""
        absolute = os.path.normpath(os.path.abspath(os.path.expanduser(path)))
        for pipeline in self.pipelines.values():
            root = os.path.normpath(os.path.abspath(pipeline.root))
            if os.path.commonpath([absolute, root]) == root and absolute != root:
                return pipeline, os.path.relpath(absolute, root).replace(os.sep, "/")
        roots = ", ".join(f"{name} ({p.root})" for name, p in self.pipelines.items()) or "none configured"
        raise NotRouted(f"{path}: under no pipeline's root (roots: {roots})")

    def route(self, path: str | os.PathLike[str]) -> Route:
        pipeline, relpath = self.locate(path)
        return pipeline.route(relpath)

    def named_projects(self) -> list[NamedProject]:
        """Every project the config names outright (no template field), with its key: what can
        be looked up on Frame.io before any file comes."""
        named = []
        for routes in self.pipelines.values():
            if not routes.key:
                continue  # the single-root config's frameio.project_id: the doctor's "project" check
            pipeline = routes.config
            templates = [(f"rules[{i}]: {rule.match}", rule.project) for i, rule in enumerate(pipeline.rules)
                         if rule.project is not None]
            if not pipeline.rules or any(rule.project is None for rule in pipeline.rules):
                templates.append(("", pipeline.project))
            named += [NamedProject(routes.project_key(rule), pipeline.connection, project, pipeline.create_projects)
                      for rule, project in templates if project and not template_fields(project)]
        return named


@dataclass(frozen=True)
class NamedProject:
    key: str
    connection: str
    project: str  # an id or a name
    create: bool
