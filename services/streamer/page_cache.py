"""Whether a file's bytes can be sent from the event loop: only when reading them cannot
wait on storage. Two non-blocking probes decide, both cheap (a few µs per 8 MiB chunk):

- a one-byte `preadv(RWF_NOWAIT)`: the file system promises never to wait on it. Local
  disk file systems (ext4, xfs, btrfs) keep that promise; network and FUSE file systems
  refuse the flag (EOPNOTSUPP), and their files are then always read by threads, since
  even a cached page may wait there on a round trip (attribute revalidation);
- `cachestat(2)` (Linux 6.5+) over the whole chunk: every page is in the page cache.
  Without it, the chunk's first and last pages are probed.
"""

from __future__ import annotations

import ctypes
import errno
import os

CACHESTAT = 451  # the syscall number, the same on every architecture that has it
PAGE = os.sysconf("SC_PAGE_SIZE")


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")]


class PageCache:
    """The probes, with their buffers; for use on the event loop's thread only."""

    def __init__(self) -> None:
        self._byte = bytearray(1)
        self._range = _Range()
        self._stat = _Stat()
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._cachestat = True  # until the kernel says it has no such call

    def nowait(self, fd: int, offset: int) -> bool | None:
        """Whether the page at `offset` is cached, read without waiting; None when the
        file system cannot read without possibly waiting (a network file system)."""
        try:
            os.preadv(fd, [self._byte], offset, os.RWF_NOWAIT)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                return None
            raise
        return True

    def resident(self, fd: int, offset: int, count: int) -> bool:
        """Whether every page of [offset, offset + count) is cached; call only for a file
        whose file system `nowait` accepted."""
        if self._cachestat:
            self._range.off, self._range.len = offset, count
            if self._libc.syscall(CACHESTAT, fd, ctypes.byref(self._range), ctypes.byref(self._stat), 0) == 0:
                first, last = offset // PAGE, (offset + count - 1) // PAGE
                return self._stat.cache >= last - first + 1
            if ctypes.get_errno() != errno.ENOSYS:
                return False
            self._cachestat = False
        return bool(self.nowait(fd, offset)) and bool(self.nowait(fd, offset + count - 1))
