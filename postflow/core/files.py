"""File-system helpers shared by the services that read media from the watch root."""

from __future__ import annotations

import os


def readable_stat(path: str | os.PathLike) -> os.stat_result:
    """The file's stat, taken through a descriptor opened for reading: proof that this
    process may read it (a bare stat succeeds on a file it cannot open). O_NONBLOCK keeps
    a FIFO from hanging the caller."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)
