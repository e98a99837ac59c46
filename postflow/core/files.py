"""File-system helpers: reading media from the watch root, writing files atomically (private ones too)."""

from __future__ import annotations

import os
from pathlib import Path


def readable_stat(path: str | os.PathLike) -> os.stat_result:
    """The file's stat, taken through a descriptor opened for reading: proof that this
    process may read it (a bare stat succeeds on a file it cannot open). O_NONBLOCK keeps
    a FIFO from hanging the caller."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Makes the entries of directory `path` durable (a rename, a removal in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, text: str) -> None:
    """Writes `text` atomically into a file of mode 0600 (for secrets and private keys)."""
    write_atomically(path, text, 0o600)


def write_atomically(path: Path, text: str, mode: int = 0o666) -> None:
    """Writes `text` into `path` through a temp file beside it, flushed to disk and renamed over
    it: a reader sees the old file or the new, never part of one (`mode` as the umask allows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
