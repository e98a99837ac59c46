"""The pipelines and Frame.io connections of the config: what each pipeline watches, which
connection it delivers with, and where its files go.

A pipeline's destination is a project (an id, or a name) and a folder path, both templates:
`{name}` fields are filled from the groups of the routing rule that matched the file's path
(relative to the pipeline's root) and from what every path has — `{dir}` (its directory, ""
at the top), `{file}` (its name) and `{pipeline}`. A rule's pattern is matched against the
whole relative path: `{group}` stands for one path segment, `*` for any characters within one
segment, `**` for any number of segments, `?` for one character. Rules are tried in order; with
rules, a path none of them matches is unrouted (listed, never uploaded); without rules, every
file goes to the pipeline's own project and folder.

Keys a pipeline leaves out come from the `watch` and `transfer` sections, so the single-root
config of before (`watch.root`) is a pipeline named `default` with the connection `default`:
the `frameio` section's client and account, and its `project_id`.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Strict, model_validator
from pydantic.dataclasses import dataclass

from postflow.core.config_types import (
    SECTION,
    AtLeastOne,
    ConfigError,
    Flag,
    KeyProblem,
    PositiveSeconds,
    Section,
    Strings,
)
from postflow.core.review_config import PipelineReview

if TYPE_CHECKING:
    from postflow.core.config import Config

DEFAULT = "default"
BUILT_IN_FIELDS = frozenset({"dir", "file", "pipeline"})
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TransferMode = Literal["auto", "pull", "push"]
SIDECAR_SUFFIX = ".frameio.json"  # after_delivery "sidecar" writes NAME.frameio.json; never uploaded itself


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ValueError(f"{name!r} is not a name: letters, digits, '_', '.', '-', at most 64")
    return name


Name = Annotated[str, Strict(), AfterValidator(check_name)]


def template_fields(template: str) -> set[str]:
    """The `{fields}` a template names; a format spec, conversion or index is refused."""
    fields = set()
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"{{{field}}} in {template!r}: a template field is a plain name like {{shot}}")
        fields.add(field)
    return fields


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of a rule's `match` pattern (see the module docstring)."""
    out, index = [], 0
    for found in re.finditer(r"\{([^{}]*)\}|\*\*/?|\*|\?|[{}]", pattern):
        out.append(re.escape(pattern[index:found.start()]))
        token = found.group(0)
        if token in "{}":
            raise ValueError(f"{pattern!r}: an unmatched {token!r} (a group is written {{shot}})")
        if token.startswith("{"):
            group = found.group(1)
            if not group.isidentifier():
                raise ValueError(f"{token} in {pattern!r}: a group is a plain name like {{shot}}")
            if f"(?P<{group}>" in "".join(out):
                raise ValueError(f"{token} appears twice in {pattern!r}")
            out.append(f"(?P<{group}>[^/]+)")
        elif token.startswith("**"):
            out.append("(?:.*/)?" if token.endswith("/") else ".*")
        else:
            out.append("[^/]*" if token == "*" else "[^/]")
        index = found.end()
    out.append(re.escape(pattern[index:]))
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise ValueError(f"{pattern!r}: {exc}") from None


@dataclass(frozen=True, config=SECTION)
class ConnectionConfig(Section):
    """One Frame.io login held by auth: an OAuth client (the `frameio` section's when left
    out) and the account it delivers into (the first the login can see when left out)."""

    client_id: str = ""
    client_secret: str = dataclasses.field(default="", repr=False)
    account_id: str = ""
    client_credentials: Flag | None = None  # server-to-server; the `frameio` section's when left out


@dataclass(frozen=True, config=SECTION)
class RuleConfig(Section):
    match: Annotated[str, Strict()]
    project: str | None = None  # a template; the pipeline's when left out
    folder: str | None = None  # a template; the pipeline's when left out

    @model_validator(mode="after")
    def check_pattern(self) -> RuleConfig:
        try:
            compile_pattern(self.match)
        except ValueError as exc:
            raise KeyProblem("match", str(exc)) from None
        return self

    @property
    def groups(self) -> set[str]:
        return set(compile_pattern(self.match).groupindex)


@dataclass(frozen=True, config=SECTION)
class PipelineConfig(Section):
    name: Name
    root: Annotated[str, Strict()]
    connection: Name = DEFAULT
    project: str = ""  # an id or a name (a template); "" = the connection's default project
    folder: str = "{dir}"  # a template: by default the file's folder under the root
    create_projects: Flag = False  # a project named that does not exist is created
    rules: tuple[RuleConfig, ...] = ()
    on_start: Literal["all", "new-only"] = "all"
    after_delivery: Literal["none", "move", "sidecar"] = "none"
    done_dir: str = "DONE"  # for after_delivery "move": under the root
    include: Strings | None = None
    exclude: Strings | None = None
    poll_interval_s: PositiveSeconds | None = None
    stable_after_s: PositiveSeconds | None = None
    mode: TransferMode | None = None
    max_concurrent: AtLeastOne | None = None
    review: PipelineReview | None = None  # what comes back from review; the `review` section's when left out

    @model_validator(mode="after")
    def check_templates(self) -> PipelineConfig:
        for key in ("project", "folder"):
            try:
                template_fields(getattr(self, key))
            except ValueError as exc:
                raise KeyProblem(key, str(exc)) from None
        if self.done_folder in (".", "..") or self.done_folder.startswith("../"):
            raise KeyProblem("done_dir", f"{self.done_dir!r}: a folder under the root, like DONE")
        return self

    @property
    def done_folder(self) -> str:
        """done_dir relative to the root, normalised ("DONE", "archive/DONE")."""
        return posixpath.normpath(self.done_dir.strip("/"))

    def destinations(self) -> list[tuple[str, str, set[str]]]:
        """Each template with its key and the fields it may use: the rules' (whose groups
        fill them) or, without rules, the pipeline's own."""
        if not self.rules:
            return [(key, getattr(self, key), set(BUILT_IN_FIELDS)) for key in ("project", "folder")]
        return [(f"rules[{index}].{key}", getattr(rule, key) if getattr(rule, key) is not None else getattr(self, key),
                 rule.groups | BUILT_IN_FIELDS)
                for index, rule in enumerate(self.rules) for key in ("project", "folder")]


def pipelines_of(config: Config) -> tuple[PipelineConfig, ...]:
    """The pipelines: as configured, or the single-root config's `default` (watch.root into
    frameio.project_id, folders mirrored when watch.mirror_folders), or none."""
    if config.pipelines or not config.watch.root:
        return config.pipelines
    return (PipelineConfig(name=DEFAULT, root=config.watch.root, project=config.frameio.project_id,
                           folder="{dir}" if config.watch.mirror_folders else ""),)


def connections_of(config: Config) -> dict[str, ConnectionConfig]:
    """Every connection by name, `default` included, with what it leaves out taken from the
    `frameio` section."""
    frameio = config.frameio
    named = {DEFAULT: ConnectionConfig(), **config.connections}
    return {name: ConnectionConfig(
        client_id=connection.client_id or frameio.client_id,
        client_secret=connection.client_secret if connection.client_id else frameio.client_secret,
        account_id=connection.account_id or (frameio.account_id if name == DEFAULT else ""),
        client_credentials=(frameio.client_credentials if connection.client_credentials is None
                            else connection.client_credentials),
    ) for name, connection in named.items()}


def check_pipelines(config: Config) -> None:
    """What one pipeline cannot see: names, connections and roots against the others."""
    for name in config.connections:
        try:
            check_name(name)
        except ValueError as exc:
            raise KeyProblem(f"connections.{name}", str(exc)) from None
    if config.pipelines and config.watch.root:
        raise KeyProblem("watch.root", "give each pipeline its own root in `pipelines` instead")
    known = sorted({DEFAULT, *config.connections})
    roots: list[tuple[str, str]] = []
    for index, pipeline in enumerate(config.pipelines):
        key = f"pipelines[{index}]"
        if pipeline.name in (other.name for other in config.pipelines[:index]):
            raise KeyProblem(f"{key}.name", f"{pipeline.name!r} names two pipelines")
        if pipeline.connection not in known:
            raise KeyProblem(f"{key}.connection", f"unknown connection {pipeline.connection!r} "
                                                  f"(known: {', '.join(known)})")
        for template_key, template, allowed in pipeline.destinations():
            unknown = template_fields(template) - allowed
            if unknown:
                why = ("the rule's match pattern does not capture" if pipeline.rules else
                       "is not a field every path has ({dir}, {file}, {pipeline}); groups come from rules")
                raise KeyProblem(f"{key}.{template_key}", f"{template!r} names {{{sorted(unknown)[0]}}}, which {why}")
        root = os.path.normpath(os.path.expanduser(pipeline.root))
        for other_name, other_root in roots:
            if os.path.commonpath([root, other_root]) in (root, other_root):
                raise KeyProblem(f"{key}.root", f"{pipeline.root} overlaps the root of pipeline {other_name!r} "
                                                "(a file would belong to both)")
        roots.append((pipeline.name, root))


def require_roots(config: Config) -> dict[str, Path]:
    """Each pipeline's root by pipeline name, each an existing directory, writable when the
    pipeline's after_delivery writes there (watcher, streamer and check-config need them)."""
    pipelines = pipelines_of(config)
    if not pipelines:
        raise ConfigError("watch.root: required (the folder to watch), or `pipelines`")
    roots = {}
    for index, pipeline in enumerate(pipelines):
        key = f"pipelines[{index}]" if config.pipelines else "watch"
        root = Path(pipeline.root).expanduser()
        if not root.is_dir():
            raise ConfigError(f"{key}.root: {root} is not a directory")
        if pipeline.after_delivery != "none" and not writable(root):
            raise ConfigError(f'{key}.after_delivery: "{pipeline.after_delivery}" writes into the root, but {root} '
                              'is read-only here; use "none" or make the root writable')
        if (writes := config.review.actions(pipeline.review).writes_into_root) and not writable(root):
            raise ConfigError(f"{review_key(key, pipeline, writes)}: writes into the root, but {root} is read-only "
                              "here; leave it out or make the root writable")
        roots[pipeline.name] = root.resolve()
    return roots


def review_key(key: str, pipeline: PipelineConfig, action: str) -> str:
    """Where the review action that writes into the root is set: the pipeline's own `review`,
    else the `review` section every pipeline takes it from."""
    own = pipeline.review is not None and getattr(pipeline.review, action.partition(".")[0]) is not None
    return f"{key}.review.{action}" if own else f"review.{action}"


def writable(directory: Path) -> bool:
    """Whether this process may create files in `directory` (a read-only mount says no)."""
    return os.access(directory, os.W_OK) and not os.statvfs(directory).f_flag & os.ST_RDONLY
