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
    """Yields each pending file that has become stable and marks it settled, so it is
    yielded once per version of its content."""
    for reldir, state in scanner.pending_dirs():
        stats, since = state.stats, state.since
        ready = [i for i in range(len(state)) if is_stable(stats[3 * i], since[i], now, stable_after_s)]
        for i in ready:
            since[i] = 0.0
        state.pending -= len(ready)
        yield from state.files(reldir, ready)
