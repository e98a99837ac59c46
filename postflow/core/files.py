"""File-system helpers: reading media from the watch root, writing private files."""

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


def write_private(path: Path, text: str) -> None:
    """Writes `text` atomically into a file of mode 0600 (for secrets and private keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temp, path)
