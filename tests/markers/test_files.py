"""Marker files beside the source: one a format, replaced atomically, left alone when unchanged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from postflow.markers.files import write_marker_files
from postflow.v1 import watcher_pb2
from tests.markers.reviews import REVIEWS, SAMPLES, comment


@pytest.mark.asyncio
async def test_written_beside_the_source_only_when_changed(tmp_path: Path) -> None:
    source = tmp_path / "A001_C003.mov"
    source.write_bytes(b"media")
    review = REVIEWS["23976"]
    written = await write_marker_files(source, ("edl", "fcpxml", "xmeml", "csv"), review)
    names = ["A001_C003.comments.edl", "A001_C003.comments.fcpxml", "A001_C003.comments.xml",
             "A001_C003.comments.csv"]
    assert [path.name for path in written] == names
    assert (tmp_path / names[0]).read_text() == (SAMPLES / "23976.edl").read_text()
    stamps = {name: (tmp_path / name).stat().st_mtime_ns for name in names}

    assert await write_marker_files(source, ("edl", "csv"), review) == []
    assert {name: (tmp_path / name).stat().st_mtime_ns for name in names} == stamps

    newer = watcher_pb2.Review()
    newer.CopyFrom(review)
    newer.comments.append(comment(10, 12, "One more", "Anna Berg"))
    assert [path.name for path in await write_marker_files(source, ("edl", "csv"), newer)] == [names[0], names[3]]
    assert "One more" in (tmp_path / names[3]).read_text()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([source.name, *names])  # no temporary left


@pytest.mark.asyncio
@pytest.mark.parametrize(("umask", "mode"), [(0o002, 0o664), (0o077, 0o600)])
async def test_marker_files_take_the_mode_the_umask_allows(tmp_path: Path, umask: int, mode: int) -> None:
    source = tmp_path / "A001_C003.mov"
    source.write_bytes(b"media")
    before = os.umask(umask)
    try:
        (written,) = await write_marker_files(source, ("edl",), REVIEWS["23976"])
    finally:
        os.umask(before)
    assert stat.S_IMODE(written.stat().st_mode) == mode
