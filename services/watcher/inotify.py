"""Optional acceleration on local disks (`watch.inotify`): kernel events wake the scan loop
as soon as something changes under the watch root, and once more when a file that was
written should have become stable, instead of at the next poll. Polling stays the source
of truth — LucidLink, NFS and SMB raise no events for writes made on other machines — so
a lost event, a full queue or a watch limit only costs the wait for the next poll."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ONLYDIR, IN_ISDIR = 0x4000, 0x8000, 0x1000000, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
MASK = (IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
        | IN_MOVE_SELF | IN_ONLYDIR)
NOW = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE  # worth a scan at once
WRITTEN = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO  # worth a scan once the file should be stable
EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of NUL-padded name
READ_SIZE = 64 * 1024


class ScanTrigger:
    """When the scan loop runs next: after the poll interval, or earlier when told to."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._settle: asyncio.TimerHandle | None = None

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)
        self._event.clear()

    def now(self) -> None:
        self._event.set()

    def after(self, delay_s: float) -> None:
        """Once, `delay_s` after the latest call (a file still being written pushes it back)."""
        if self._settle is not None:
            self._settle.cancel()
        self._settle = asyncio.get_running_loop().call_later(delay_s, self._event.set)

    def close(self) -> None:
        if self._settle is not None:
            self._settle.cancel()


class TreeEvents:
    """inotify watches on every directory under `root` (new ones added as they appear).
    A file appearing, finishing or going away triggers a scan now; any write also triggers
    one `settle_s` later, when the file should have become stable."""

    def __init__(self, root: Path, trigger: ScanTrigger, settle_s: float) -> None:
        self.root = root
        self.trigger = trigger
        self.settle_s = settle_s
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = -1
        self._dirs: dict[int, Path] = {}
        self._limit_reported = False

    def open(self) -> None:
        """Watches the tree (a walk of it: may run in a worker thread); raises OSError when
        inotify is not available."""
        if not hasattr(self._libc, "inotify_init1"):
            raise OSError(errno.ENOSYS, "inotify is Linux-only")
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        self._fd = fd
        self._watch_tree(self.root)

    def listen(self) -> None:
        """Reads events in the running loop from now on."""
        asyncio.get_running_loop().add_reader(self._fd, self._on_readable)
        log.info("inotify on: %d folders watched; polling goes on as well", len(self._dirs))

    def close(self) -> None:
        if self._fd >= 0:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
            self._dirs.clear()

    def _watch_tree(self, top: Path) -> None:
        if not self._watch(top):
            return
        for folder, subdirs, _ in os.walk(top):
            for name in subdirs:
                if not self._watch(Path(folder) / name):
                    return

    def _watch(self, folder: Path) -> bool:
        """Adds one watch; False once the system's watch limit is reached."""
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), MASK)
        if wd >= 0:
            self._dirs[wd] = folder
            return True
        code = ctypes.get_errno()
        if code == errno.ENOSPC and not self._limit_reported:
            self._limit_reported = True
            log.warning("inotify watch limit reached at %d folders (fs.inotify.max_user_watches); "
                        "the rest of the tree is seen at each poll only", len(self._dirs))
        return code != errno.ENOSPC  # a folder that vanished or cannot be read is skipped

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return
        seen = 0
        offset = 0
        while offset + EVENT.size <= len(data):
            wd, mask, _, length = EVENT.unpack_from(data, offset)
            name = data[offset + EVENT.size: offset + EVENT.size + length].rstrip(b"\0")
            offset += EVENT.size + length
            if mask & IN_IGNORED:
                self._dirs.pop(wd, None)
            elif mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO) and wd in self._dirs:
                self._watch_tree(self._dirs[wd] / os.fsdecode(name))
            seen |= mask
        if seen & (NOW | IN_Q_OVERFLOW):
            self.trigger.now()
        if seen & (WRITTEN | IN_Q_OVERFLOW):
            self.trigger.after(self.settle_s)
