"""A review's markers in one of the formats (`render_review`), and the marker files written
next to the source (`write_marker_files`: NAME.comments.edl, …), each replaced atomically and
only when its content changed, so that an editing application watching it reloads only then."""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from postflow.core.files import write_atomically
from postflow.core.review_config import MARKER_FORMATS, MARKER_SUFFIXES
from postflow.markers.edl import render_edl
from postflow.markers.fcpxml import render_fcpxml
from postflow.markers.model import Marker, markers_from_review
from postflow.markers.table import render_csv
from postflow.markers.timing import MediaTiming
from postflow.markers.xmeml import render_xmeml
from postflow.v1 import watcher_pb2

Renderer = Callable[[Sequence[Marker], MediaTiming, str], str]
RENDERERS: dict[str, Renderer] = {"edl": render_edl, "fcpxml": render_fcpxml, "xmeml": render_xmeml,
                                  "csv": render_csv}


def render_review(review: watcher_pb2.Review, fmt: str, timing: MediaTiming | None = None,
                  title: str | None = None) -> str:
    """The review's comments as markers in `fmt` (one of MARKER_FORMATS). `timing` defaults to
    the review's own, `title` to the file's name."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown marker format {fmt!r} (known: {', '.join(MARKER_FORMATS)})")
    timing = timing or MediaTiming.from_proto(review.timing)
    name = title or posixpath.basename(review.job.path) or review.job.id
    return RENDERERS[fmt](markers_from_review(review, timing), timing, name)


def marker_name(media_name: str, fmt: str) -> str:
    """NAME.comments.edl for NAME.mov."""
    return posixpath.splitext(media_name)[0] + MARKER_SUFFIXES[fmt]


def marker_file(source: Path, fmt: str) -> Path:
    """The marker file beside the source."""
    return source.with_name(marker_name(source.name, fmt))


async def write_marker_files(source: Path, formats: Iterable[str], review: watcher_pb2.Review,
                             timing: MediaTiming | None = None) -> list[Path]:
    """Writes each format's file beside `source` (off the event loop); returns those whose
    content changed (and so were written)."""
    contents = {marker_file(source, fmt): render_review(review, fmt, timing, source.name) for fmt in formats}
    return await asyncio.to_thread(write_changed, contents)


def write_changed(contents: dict[Path, str]) -> list[Path]:
    return [path for path, text in contents.items() if replace_if_changed(path, text)]


def replace_if_changed(path: Path, text: str) -> bool:
    """Writes `text` to `path` atomically (a reader never sees half a file), with the mode the
    umask allows; False when the file already holds it."""
    try:
        if path.read_bytes() == text.encode():
            return False
    except FileNotFoundError:
        pass
    write_atomically(path, text)
    return True
