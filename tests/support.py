"""Helpers shared by the tests: media files, and (from postflow.testing, which the benchmarks
share) free loopback ports, polling with a deadline and child processes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from postflow.testing.support import (
    child_env,
    free_port,
    process_alive,
    process_rss_mb,
    process_rss_peak_mb,
    wait_for,
)

__all__ = ["child_env", "free_port", "process_alive", "process_rss_mb", "process_rss_peak_mb", "sha256_file",
           "wait_for", "write_media"]

CHUNK = 8 * 1024 * 1024


def write_media(path: Path, size: int, seed: int = 0) -> str:
    """Writes `size` pseudo-random bytes quickly (a repeated random block shifted by offset,
    so no two 8 MiB chunks are equal); returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * (CHUNK // 32)
    with open(path, "wb") as out:
        written = 0
        index = 0
        while written < size:
            piece = index.to_bytes(8, "big") + block[8:]
            piece = piece[: min(CHUNK, size - written)]
            out.write(piece)
            digest.update(piece)
            written += len(piece)
            index += 1
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
