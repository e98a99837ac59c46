"""The roots the streamer serves files from: each pipeline's, by pipeline name. A config
reload replaces them whole; publications and pushes look their root up at each use, so a
pipeline removed stops serving at once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from postflow.core.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)


class Roots:
    def __init__(self, roots: Mapping[str, Path]) -> None:
        self._by_pipeline = dict(roots)

    def replace(self, roots: Mapping[str, Path]) -> None:
        old, self._by_pipeline = self._by_pipeline, dict(roots)
        for name in sorted(old.keys() | roots.keys()):
            if name not in roots:
                log.info("pipeline %r removed: its publications no longer serve", name)
            elif name not in old:
                log.info("pipeline %r added: serving files under %s", name, roots[name])
            elif old[name] != roots[name]:
                log.info("pipeline %r moved from %s to %s: its publications of files outside it no longer serve",
                         name, old[name], roots[name])

    def get(self, pipeline: str) -> Path | None:
        return self._by_pipeline.get(pipeline)

    def named(self, pipeline: str, key: str = "pipeline") -> tuple[str, Path]:
        """The pipeline a request names (in its field `key`) and its root; "" names the only
        pipeline when there is exactly one."""
        known = ", ".join(sorted(self._by_pipeline)) or "none"
        if not pipeline:
            if len(self._by_pipeline) != 1:
                raise InvalidArgument(f"{key}: required, the streamer serves several pipelines (known: {known})")
            return next(iter(self._by_pipeline.items()))
        root = self._by_pipeline.get(pipeline)
        if root is None:
            raise NotFound(f"{key} {pipeline!r}: no such pipeline (known: {known})")
        return pipeline, root
