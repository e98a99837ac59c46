"""A read-only FUSE passthrough that is slow on purpose, as a network filespace (LucidLink,
NFS, SMB) is for data that is not local yet: each read request the kernel sends it waits
`read_latency_ms` first, each lookup, stat and open `meta_latency_ms`. Requests are
served by many threads, so latencies overlap as they do on a network. For tests and
benchmarks; it needs Debian's `fuse3` (`make fuse`) and the `mfusepy` binding (dev extra).

    python -m postflow.devtools.slowfs SOURCE MOUNTPOINT [--read-latency-ms 2] [--meta-latency-ms 0]
        [--direct-io] [--cache-timeout-s 1]

`--direct-io` sends every read to the daemon (no page cache), the deterministic choice for
tests; without it the kernel caches pages until the file is opened again. `mounted()` runs
it in a child process for the span of a `with` block. While mounted it obeys extended
attributes set on its root: `Mount.renumber_inodes()` gives every file a new inode number,
as a file system that does not keep inode numbers does once the kernel forgot an inode.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postflow.core.process import tied_to_parent

CONTROL = "user.slowfs."  # extended attributes of the mount's root that change the running file system
RENUMBER_STEP = 1 << 48  # added to every inode number by each renumbering
MOUNT_TIMEOUT_S = 20.0
UNMOUNT_TIMEOUT_S = 10.0


@dataclass
class Mount:
    path: Path
    process: subprocess.Popen

    def renumber_inodes(self) -> None:
        os.setxattr(self.path, f"{CONTROL}renumber", b"1")

    def set_latency(self, *, read_ms: float | None = None, meta_ms: float | None = None) -> None:
        for name, value in (("read_latency_ms", read_ms), ("meta_latency_ms", meta_ms)):
            if value is not None:
                os.setxattr(self.path, f"{CONTROL}{name}", str(value).encode())


@contextlib.contextmanager
def mounted(source: Path, mountpoint: Path, *, read_latency_ms: float = 0.0, meta_latency_ms: float = 0.0,
            direct_io: bool = False, cache_timeout_s: float = 1.0, ro_flag: bool = False) -> Iterator[Mount]:
    """`source` mounted read-only and slow at `mountpoint` (created if missing); raises
    RuntimeError, saying why, when it cannot be mounted. With `ro_flag`, the mount says so too
    (statvfs's ST_RDONLY), as a read-only network mount does; its latency cannot be changed then."""
    fusermount = shutil.which("fusermount3")
    if fusermount is None or not os.path.exists("/dev/fuse"):
        raise RuntimeError("FUSE is not available: /dev/fuse and fusermount3 are needed (`make fuse` installs fuse3)")
    mountpoint.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", __name__, str(source), str(mountpoint), "--read-latency-ms", str(read_latency_ms),
            "--meta-latency-ms", str(meta_latency_ms), "--cache-timeout-s", str(cache_timeout_s)]
    flags = [*(["--direct-io"] if direct_io else []), *(["--ro-flag"] if ro_flag else [])]
    process = subprocess.Popen(tied_to_parent([*argv, *flags]),
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while not os.path.ismount(mountpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slowfs could not mount {mountpoint}: {_stderr_of(process)}")
            time.sleep(0.02)
        yield Mount(mountpoint, process)
    finally:
        _unmount(fusermount, mountpoint, process)


def _unmount(fusermount: str, mountpoint: Path, process: subprocess.Popen) -> None:
    """Unmounts, retrying while files on it are still being closed; a mount still busy or
    hung after UNMOUNT_TIMEOUT_S is detached (lazy unmount) and its daemon killed."""
    deadline = time.monotonic() + UNMOUNT_TIMEOUT_S
    unmounted = False
    while not unmounted and process.poll() is None and time.monotonic() < deadline:
        unmounted = subprocess.run([fusermount, "-u", str(mountpoint)], capture_output=True).returncode == 0
        if not unmounted:
            time.sleep(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    if not unmounted:
        subprocess.run([fusermount, "-uz", str(mountpoint)], capture_output=True)
    if process.poll() is None:
        process.kill()
        process.wait()
    if process.stderr is not None:
        process.stderr.close()


def _stderr_of(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.kill()
    _, stderr = process.communicate()
    return stderr.strip()[-2000:] or f"exit status {process.returncode}"


def serve(source: Path, mountpoint: Path, read_latency_ms: float, meta_latency_ms: float, direct_io: bool,
          cache_timeout_s: float, ro_flag: bool = False) -> None:
    """Runs the file system in the foreground until it is unmounted (or sent SIGTERM)."""
    import mfusepy

    class SlowPassthrough(mfusepy.Operations):
        use_ns = True

        def __init__(self) -> None:
            self.read_s, self.meta_s = read_latency_ms / 1000, meta_latency_ms / 1000
            self.renumbered = 0

        def init_with_config(self, conn: Any, config: Any) -> None:  # the kernel's and libfuse's defaults otherwise
            config.use_ino = 1  # st_ino is ours (the source's, renumbered), not libfuse's node ids
            config.direct_io = int(direct_io)
            config.entry_timeout = config.attr_timeout = cache_timeout_s

        def _source(self, path: str) -> str:
            return str(source) + path

        def _wait(self, seconds: float) -> None:
            if seconds > 0:
                time.sleep(seconds)

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            self._wait(self.meta_s)
            st = os.fstat(fh) if fh is not None else os.lstat(self._source(path))
            attrs = {key: getattr(st, key) for key in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size")}
            return {**attrs, "st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns,
                    "st_ino": st.st_ino + self.renumbered * RENUMBER_STEP}

        def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
            self._wait(self.meta_s)
            with os.scandir(self._source(path)) as entries:
                return [(entry.name, {"st_mode": entry.stat(follow_symlinks=False).st_mode,
                                      "st_ino": entry.inode() + self.renumbered * RENUMBER_STEP}, 0)
                        for entry in entries]

        def open(self, path: str, flags: int) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
                raise mfusepy.FuseOSError(errno.EROFS)
            self._wait(self.meta_s)
            return os.open(self._source(path), os.O_RDONLY | os.O_CLOEXEC)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            self._wait(self.read_s)
            return os.pread(fh, size, offset)

        def release(self, path: str, fh: int) -> int:
            os.close(fh)
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            st = os.statvfs(source)
            return {key: getattr(st, key) for key in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                                                      "f_files", "f_ffree", "f_favail", "f_namemax")}

        def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0) -> int:
            if path != "/" or not name.startswith(CONTROL):
                raise mfusepy.FuseOSError(errno.ENOTSUP)
            setting = name.removeprefix(CONTROL)
            if setting == "renumber":
                self.renumbered += 1
            elif setting in ("read_latency_ms", "meta_latency_ms"):
                setattr(self, "read_s" if setting == "read_latency_ms" else "meta_s", float(value) / 1000)
            else:
                raise mfusepy.FuseOSError(errno.EINVAL)
            return 0

    mfusepy.FUSE(SlowPassthrough(), str(mountpoint), foreground=True, ro=ro_flag, fsname="slowfs", subtype="slowfs",
                 max_threads=128)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--read-latency-ms", type=float, default=2.0)
    parser.add_argument("--meta-latency-ms", type=float, default=0.0)
    parser.add_argument("--direct-io", action="store_true")
    parser.add_argument("--cache-timeout-s", type=float, default=1.0)
    parser.add_argument("--ro-flag", action="store_true", help="mount with the read-only flag (statvfs ST_RDONLY)")
    args = parser.parse_args(argv)
    serve(args.source.resolve(), args.mountpoint, args.read_latency_ms, args.meta_latency_ms, args.direct_io,
          args.cache_timeout_s, args.ro_flag)


if __name__ == "__main__":
    main()
