"""The periodic recursive scan: kernel events do not fire on network or FUSE mounts for
writes made elsewhere, so every poll walks the tree with `os.scandir` and records
(size, mtime_ns, inode) per file.

State is kept per directory in compact form (the names joined in one string, one packed
int64 array of stats and one float array of "unchanged since" times) so 100,000 files cost
a few MB, and an unchanged directory is recognised by comparing a string and a byte array.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from postflow.core.pipelines import SIDECAR_SUFFIX
from postflow.core.review_config import MARKER_SUFFIXES
from services.watcher.availability import RootHealth

log = logging.getLogger(__name__)

INT63 = (1 << 63) - 1
ADDED, MODIFIED, REMOVED = "added", "modified", "removed"


@dataclass(frozen=True, slots=True)
class FileStat:
    path: str  # relative to the root, '/'-separated
    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # ADDED, MODIFIED or REMOVED
    file: FileStat


class DirState:
    """One directory's files: their names joined by NUL (which no file name holds), stats
    as [size, mtime_ns, inode] * n, and for each file the monotonic time its current stats
    were first seen (0 = settled)."""

    __slots__ = ("names", "stats", "since", "pending")

    def __init__(self, names: str, stats: array, since: array, pending: int) -> None:
        self.names = names
        self.stats = stats
        self.since = since
        self.pending = pending

    def __len__(self) -> int:
        return len(self.since)

    def name_list(self) -> list[str]:
        return self.names.split("\0") if self.names else []

    def files(self, reldir: str, indexes: Iterable[int] | None = None) -> Iterator[FileStat]:
        names = self.name_list()
        for i in range(len(names)) if indexes is None else indexes:
            size, mtime_ns, inode = self.stats[3 * i: 3 * i + 3]
            yield FileStat(join(reldir, names[i]), size, mtime_ns, inode)

    def settle(self, reldir: str, ready: Callable[[int, float], bool]) -> list[FileStat]:
        """The pending files for which `ready(size, since)` holds, marked settled."""
        stats, since = self.stats, self.since
        settled = [i for i in range(len(since)) if since[i] > 0 and ready(stats[3 * i], since[i])]
        for i in settled:
            since[i] = 0.0
        self.pending -= len(settled)
        return list(self.files(reldir, settled))


def join(reldir: str, name: str) -> str:
    return f"{reldir}/{name}" if reldir else name


def compile_globs(patterns: Iterable[str]) -> Callable[[str], object] | None:
    """One case-insensitive regex matching any of the glob patterns (None when empty)."""
    patterns = list(patterns)
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE).match


class PathFilter:
    """Include globs match a file's name (or its relative path when the glob has a '/');
    exclude globs match any path component, so `.*` hides hidden directories too. Sidecars
    (`*.frameio.json`) and review markers (`*.comments.edl`, …) are always excluded: PostFlow
    writes them, whatever a pipeline says now. `skip_dirs` are directories (relative to the
    root) never walked: a pipeline's done_dir, the folder approved masters are copied into."""

    def __init__(self, include: Iterable[str], exclude: Iterable[str], skip_dirs: Iterable[str] = ()) -> None:
        include = list(include)
        exclude = [*exclude, f"*{SIDECAR_SUFFIX}", *(f"*{suffix}" for suffix in MARKER_SUFFIXES.values())]
        self.skip_dirs = frozenset(skip_dirs)
        self.excluded = compile_globs(exclude) or (lambda name: None)
        by_name = [p for p in include if "/" not in p] or ([] if include else ["*"])
        self._include_path = compile_globs(p for p in include if "/" in p)
        # One regex for the common case: included by name and not excluded.
        veto = "|".join(f"(?:{fnmatch.translate(p)})" for p in exclude)
        allow = "|".join(f"(?:{fnmatch.translate(p)})" for p in by_name) or "(?!)"
        self.name_ok = re.compile(f"(?!{veto})(?:{allow})" if veto else allow, re.IGNORECASE).match

    def accepts_name(self, name: str, reldir: str) -> bool:
        """Whether a file called `name` in the (already accepted) directory `reldir` is in."""
        if self.name_ok(name):
            return True
        return bool(self._include_path and not self.excluded(name) and self._include_path(join(reldir, name)))

    def accepts(self, relpath: str) -> bool:
        reldir, _, name = relpath.rpartition("/")
        return (not any(self.excluded(part) for part in reldir.split("/") if part) and not self.skipped(relpath)
                and self.accepts_name(name, reldir))

    def skipped(self, relpath: str) -> str:
        """The one of `skip_dirs` that `relpath` is in ("" = none)."""
        return next((folder for folder in self.skip_dirs if relpath.startswith(f"{folder}/")), "")


class Scanner:
    """Walks `root` on demand (call `scan` from a worker thread) and keeps the snapshot."""

    def __init__(self, root: Path, path_filter: PathFilter, clock: Callable[[], float] = time.monotonic) -> None:
        self.root = str(root)
        self.filter = path_filter
        self.clock = clock
        self.dirs: dict[str, DirState] = {}
        self.file_count = 0
        self.scans = 0
        self.health = RootHealth(self.root)
        self.problem = ""  # why the root was unavailable at the last pass ("" when it was available)
        self.progress_at = clock()  # when the running pass last got an answer from the file system
        self._reported: set[str] = set()  # paths whose access error was already logged

    def scan(self) -> list[Change]:
        """One full pass. Returns what changed since the previous pass (nothing on the first
        pass: every file starts out pending). Unreadable directories keep their last state;
        while the root itself is unavailable nothing changes (`problem` says why)."""
        now = self.progress_at = self.clock()
        self.problem = self.health.problem()
        if self.problem:
            return []
        self.progress_at = self.clock()
        first = self.scans == 0
        old_dirs = self.dirs
        new_dirs: dict[str, DirState] = {}
        changes: list[Change] = []
        unreadable: list[str] = []
        stack = [""]
        while stack:
            reldir = stack.pop()
            listing = self._list(reldir, stack)
            if listing is None:
                unreadable.append(reldir)
                continue
            names, stats = listing
            if names:
                new_dirs[reldir] = self._diff(reldir, names, stats, old_dirs.get(reldir), now, first, changes)
        self.problem = self.health.problem()
        if self.problem:  # gone during the pass: what it listed may be an empty mount point
            return []
        for reldir in unreadable:
            self._keep(reldir, old_dirs, new_dirs)
        if not first:
            for reldir, old in old_dirs.items():
                if reldir not in new_dirs:
                    changes.extend(Change(REMOVED, file) for file in old.files(reldir))
        self.dirs = new_dirs
        self.file_count = sum(len(state) for state in new_dirs.values())
        self.scans += 1
        return changes

    def _list(self, reldir: str, stack: list[str]) -> tuple[list[str], array] | None:
        """The included files of one directory (subdirectories go on `stack`); None when it
        cannot be read for a reason other than having vanished."""
        try:
            # Scanning through a directory fd makes each stat an fstatat() relative to it,
            # which spares the kernel a walk of the whole path per file.
            fd = os.open(os.path.join(self.root, reldir) if reldir else self.root,
                         os.O_RDONLY | os.O_DIRECTORY | (os.O_NOFOLLOW if reldir else 0))
            try:
                names, stats = self._entries(fd, reldir, stack)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return [], array("q")
        except OSError as exc:
            self._report(reldir or ".", exc)
            return None
        finally:
            self.progress_at = self.clock()
        self._recovered(reldir or ".")
        return names, array("q", stats)

    def _entries(self, fd: int, reldir: str, stack: list[str]) -> tuple[list[str], list[int]]:
        """Names and flat [size, mtime_ns, inode] stats, in directory order (stable while
        the directory is unchanged, which is what lets an unchanged one compare equal).
        The name filter runs first: most entries are wanted files, and they cost one stat."""
        excluded, name_ok, accepted = self.filter.excluded, self.filter.name_ok, self.filter.accepts_name
        names: list[str] = []
        stats: list[int] = []
        with os.scandir(fd) as it:
            for entry in it:
                name = entry.name
                try:
                    if not name_ok(name) and not accepted(name, reldir):
                        if not excluded(name) and entry.is_dir(follow_symlinks=False):
                            self._descend(join(reldir, name), stack)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self._report(join(reldir, name), exc)
                    continue
                if not S_ISREG(st.st_mode):
                    if S_ISDIR(st.st_mode):
                        self._descend(join(reldir, name), stack)
                    continue  # symlinks, sockets, fifos: never shipped
                if not name.isascii() and not _is_utf8(name):
                    self._report(join(reldir, name), ValueError("name is not valid UTF-8"))
                    continue
                names.append(name)
                stats += (st.st_size, st.st_mtime_ns, st.st_ino & INT63)
        return names, stats

    def _descend(self, reldir: str, stack: list[str]) -> None:
        if reldir not in self.filter.skip_dirs:
            stack.append(reldir)

    def _diff(self, reldir: str, names: list[str], stats: array, old: DirState | None, now: float,
              first: bool, changes: list[Change]) -> DirState:
        joined = "\0".join(names)
        if old is not None and old.names == joined and old.stats == stats:
            return old
        if old is None:
            state = DirState(joined, stats, array("d", [now]) * len(names), len(names))
            if not first:
                changes.extend(Change(ADDED, file) for file in state.files(reldir))
            return state
        old_index = {name: i for i, name in enumerate(old.name_list())}
        since = array("d", bytes(8 * len(names)))
        pending = 0
        for i, name in enumerate(names):
            j = old_index.pop(name, None)
            current = stats[3 * i: 3 * i + 3]
            if j is not None and old.stats[3 * j: 3 * j + 3] == current:
                since[i] = old.since[j]
            else:
                since[i] = now
                changes.append(Change(ADDED if j is None else MODIFIED, FileStat(join(reldir, name), *current)))
            pending += since[i] > 0
        changes.extend(Change(REMOVED, file) for file in old.files(reldir, old_index.values()))
        return DirState(joined, stats, since, pending)

    def _keep(self, reldir: str, old_dirs: dict[str, DirState], new_dirs: dict[str, DirState]) -> None:
        """An unreadable directory (permissions, a dropped mount) keeps its subtree's last
        known state: nothing in it is reported removed."""
        prefix = reldir + "/" if reldir else ""
        for key, state in old_dirs.items():
            if key == reldir or key.startswith(prefix):
                new_dirs.setdefault(key, state)

    def _report(self, relpath: str, exc: Exception) -> None:
        if relpath not in self._reported:
            self._reported.add(relpath)
            log.warning("cannot read %s in the watch folder: %s (reported once)", relpath,
                        getattr(exc, "strerror", None) or exc)

    def _recovered(self, relpath: str) -> None:
        if relpath in self._reported:
            self._reported.discard(relpath)
            log.info("%s in the watch folder is readable again", relpath)

    def pending_dirs(self) -> Iterator[tuple[str, DirState]]:
        return ((reldir, state) for reldir, state in self.dirs.items() if state.pending)

    def settle(self, ready: Callable[[int, float], bool]) -> Iterator[FileStat]:
        """Yields each pending file for which `ready(size, since)` holds (`since`: the
        monotonic time its current stats were first seen) and marks it settled, so that it
        is yielded once per version of its content."""
        for reldir, state in self.pending_dirs():
            yield from state.settle(reldir, ready)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
