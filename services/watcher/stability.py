"""When a file is finished: its size and mtime have not changed for `stable_after_s`
across polls, and it is not empty (LucidLink shows 0-byte placeholders before the data
arrives). A file that keeps growing keeps resetting its clock, so it is never shipped early.
"""

from __future__ import annotations

from collections.abc import Iterator

from services.watcher.scanner import FileStat, Scanner


def is_stable(size: int, since: float, now: float, stable_after_s: float) -> bool:
    """`since` is when the current (size, mtime) was first seen; 0 means already settled."""
    return size > 0 and since > 0 and now - since >= stable_after_s


def settle_stable(scanner: Scanner, now: float, stable_after_s: float) -> Iterator[FileStat]:
    """Yields each of the scanner's pending files that has become stable, once per version
    of its content."""
    return scanner.settle(lambda size, since: is_stable(size, since, now, stable_after_s))
