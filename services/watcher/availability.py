"""Whether the watch root can be trusted: a network or FUSE mount fails (ENOTCONN "Transport
endpoint is not connected", EIO) or is unmounted, and what is left is an error or an empty
folder; scanning that would report every file removed."""

from __future__ import annotations

import os


class RootHealth:
    """Checks the root before each scan pass (on the scan thread: the checks may block)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._device: int | None = None  # the root's device while it was last available
        self._was_mount = False

    def problem(self) -> str:
        """Why the root is unavailable, or "" when it is available."""
        try:
            device = os.stat(self.root).st_dev
            is_mount = os.path.ismount(self.root)
        except FileNotFoundError:
            return "the watch folder does not exist"
        except OSError as exc:
            return exc.strerror or str(exc)
        # A file system mounted again gets a new device: that is the root coming back.
        if not is_mount and self._was_mount:
            return "nothing is mounted there any more (empty mount point)"
        if not is_mount and self._device is not None and device != self._device:
            return "its file system went away (the folder is now on another device)"
        self._device, self._was_mount = device, is_mount
        return ""
