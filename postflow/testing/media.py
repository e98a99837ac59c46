"""Media files for tests and benchmarks: quick to write, never two chunks alike, with their sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
    with open(path, "rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()
