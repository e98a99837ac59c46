"""The file work of an approval: the approved master copied into the pipeline's copy_to folder
(`<root>/<copy_to>/<the file's path under the root>`), verified, once.

The master is the delivered content: the job's file where it was, or where after_delivery
"move" put it in the done_dir; a file changed since it was delivered is not copied. A copy is
written to a hidden temporary name beside its target, hashed while it is written (the source's
sha256) and read back once synced (the copy's), and renamed into place only when both agree;
whatever fails, the temporary file is removed. A target holding the same content already counts
as the copy; one holding other content is kept and the copy takes the next free name
(`cut (2).mov`, as the done_dir does): nothing is ever overwritten. These run on a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from postflow.core.files import fsync_dir
from services.watcher.after_delivery import HASH_CHUNK, Stopped, check_delivered, find_moved, names_for, sha256_of
from services.watcher.jobs import Job


class CopyMismatch(Exception):
    """The copy read back is not what was read from the master."""


def approved_master(root: Path, done_folder: str, job: Job) -> Path:
    """The delivered file of the job (NotDelivered if it is gone or changed)."""
    source = root / job.path
    if not os.path.lexists(source) and (moved := find_moved(root / done_folder / job.path, job)) is not None:
        return moved
    check_delivered(source, job)
    return source


def copy_approved(root: Path, done_folder: str, copy_folder: str, job: Job,
                  stopping: threading.Event) -> tuple[Path, str]:
    """Copies the job's master to `<root>/<copy_folder>/<job.path>` (or the first free name
    after it); returns where the copy is and its sha256. A copy made before is found."""
    source = approved_master(root, done_folder, job)
    target = root / copy_folder / job.path
    source_sha256 = ""
    for candidate in names_for(target):
        if not os.path.lexists(candidate):
            break
        if os.path.getsize(candidate) == job.size:
            source_sha256 = source_sha256 or sha256_of(source, stopping)
            if sha256_of(candidate, stopping) == source_sha256:
                return candidate, source_sha256
    # PostFlow alone writes into the copy folder, one copy at a time: a free name stays free until the rename.
    candidate.parent.mkdir(parents=True, exist_ok=True)
    digest = copy_verified(source, candidate, stopping)
    check_delivered(source, job)  # changed while it was read: the copy is of no delivered content
    return candidate, digest


def copy_verified(source: Path, target: Path, stopping: threading.Event) -> str:
    """Copies `source` to `target` through a temporary file in its folder; the sha256."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        digest = hashlib.sha256()
        buffer = bytearray(HASH_CHUNK)
        view = memoryview(buffer)
        with open(source, "rb", buffering=0) as reader, os.fdopen(fd, "wb") as writer:
            while read := reader.readinto(buffer):
                if stopping.is_set():
                    raise Stopped(source)
                digest.update(view[:read])
                writer.write(view[:read])
            writer.flush()
            os.fsync(writer.fileno())
        copied = sha256_of(Path(temporary), stopping)
        if copied != digest.hexdigest():
            raise CopyMismatch(f"the copy of {source} reads back as other content (sha256 {copied}, "
                               f"not {digest.hexdigest()})")
        os.rename(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_dir(target.parent)
    return copied
