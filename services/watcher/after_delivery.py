"""What happens to a file once its job is DONE, per pipeline (`after_delivery`): nothing ("none"),
"move" it into the pipeline's done_dir, or write a "sidecar" `NAME.frameio.json` beside it
(NAME: the file's whole name, `cut_v2.mov.frameio.json`).

The ledger is the queue. `deliver` marks the pipeline's action due in the transaction that makes
the job DONE; `after_delivery_ran` clears it in the one that records, as the job's event, how it
went (where the file went, or why it could not). `AfterDelivery.run` works through the due jobs
one at a time in delivery order, when woken (a job was delivered) and at start: an action that a
restart cut short runs then, once. Each action finds what a crash midway left: a file already
moved is found in the done_dir, a sidecar is written again.

The action is the pipeline's as configured now ("none" now: nothing is done). A job whose pipeline
is not running (removed from the config, or its root unavailable) stays due and is looked at again
every RETRY_S. Whatever else goes wrong (permission, disk full, the file gone or changed since it
was delivered) is a WARNING naming the file and why, and the message of the job's event: the job
stays DONE and the file where it was.

File work runs on a thread; hashing checks `stopping` between chunks, so a watcher that stops does
not wait for a whole file to be read (the action is still due at the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from postflow.core.files import write_atomically
from postflow.core.pipelines import SIDECAR_SUFFIX
from services.watcher import jobs, schema
from services.watcher.due_work import work_through
from services.watcher.intake import job_scope
from services.watcher.jobs import Job
from services.watcher.ledger import Ledger
from services.watcher.routing import PipelineRoutes

if TYPE_CHECKING:
    from services.watcher.pipelines import Pipelines

log = logging.getLogger(__name__)

RETRY_S = 60.0  # how often jobs of a pipeline that is not running are looked at again
HASH_CHUNK = 8 * 1024 * 1024  # large sequential reads: what a network filespace serves best


class NotDelivered(Exception):
    """The file at the job's path is not the content that was delivered (changed, or gone)."""


class Stopped(Exception):
    """The watcher is stopping: the action ends unfinished, still due."""


class AfterDelivery:
    def __init__(self, ledger: Ledger, pipelines: Pipelines) -> None:
        self.ledger = ledger
        self.pipelines = pipelines
        self.stopping = threading.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A job was delivered: its action is due."""
        self._wake.set()

    async def run(self) -> None:
        await work_through(self.due, self.settle, self._wake, self.stopping, "after delivery", RETRY_S)

    async def due(self) -> list[Job]:
        """The delivered jobs whose action has not run yet, in delivery order."""
        rows = await self.ledger.run(lambda: self.ledger.db.execute(
            "SELECT * FROM jobs WHERE after_delivery_due != '' ORDER BY updated_at").fetchall())
        return [schema.job_from_row(row) for row in rows]

    async def settle(self, job: Job) -> bool:
        """Runs the job's action and records how it went; False when its pipeline is not running."""
        routes = self.pipelines.running(job.pipeline)
        if routes is None:
            return False
        with job_scope(job):
            message = await self.act(job, routes)
            await self.ledger.change(job.id, lambda stored: jobs.after_delivery_ran(stored, message))
        return True

    async def act(self, job: Job, routes: PipelineRoutes) -> str:
        """The pipeline's action on the job's file; the message of the event recording it."""
        action = routes.config.after_delivery
        if action == "none":
            return f'after delivery: nothing done, pipeline {job.pipeline} says "none" now'
        what = f"move {job.path} into {routes.config.done_folder}" if action == "move" else \
            f"write the sidecar of {job.path}"
        try:
            if action == "move":
                moved = await asyncio.to_thread(move_to_done, routes.root, routes.config.done_folder, job)
                log.info("after delivery: moved %s to %s", job.path, moved)
                return f"after delivery: moved to {moved}"
            sidecar = await asyncio.to_thread(write_sidecar, routes.root, job, self.stopping)
            log.info("after delivery: wrote %s", sidecar)
            return f"after delivery: wrote {sidecar}"
        except Exception as exc:  # whatever it is, the job was delivered: say so and move on
            why = reason(exc)
            log.warning("after delivery: could not %s: %s; the job stays done, the file where it was", what, why)
            return f"after delivery: could not {what}: {why}"


def reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def check_delivered(path: Path, job: Job) -> None:
    """NotDelivered unless `path` holds the content the job delivered (same size and mtime)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotDelivered("the file is no longer there") from None
    if (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns):
        raise NotDelivered("the file changed since it was delivered")


# -- move ---------------------------------------------------------------------------------------


def move_to_done(root: Path, done_folder: str, job: Job) -> str:
    """Moves the job's file to the same relative path under `done_folder` (folders made as
    needed); a name taken there gets a suffix (`cut (2).mov`, `cut (3).mov`, …), nothing is
    overwritten. Returns where it went, relative to the root. A file a crash left moved is found."""
    source = root / job.path
    target = root / done_folder / job.path
    if not os.path.lexists(source) and (moved := find_moved(target, job)) is not None:
        return moved.relative_to(root).as_posix()
    check_delivered(source, job)
    target.parent.mkdir(parents=True, exist_ok=True)
    # PostFlow alone writes into the done_dir, one move at a time: a free name stays free until the rename.
    free = next(candidate for candidate in names_for(target) if not os.path.lexists(candidate))
    os.rename(source, free)  # same file system: a rename keeps the mtime, so the file stays known if moved back
    return free.relative_to(root).as_posix()


def find_moved(target: Path, job: Job) -> Path | None:
    """Where `move_to_done` put the job's file given its `target` in the done_dir (None: not there)."""
    for candidate in itertools.takewhile(os.path.lexists, names_for(target)):
        with contextlib.suppress(NotDelivered):
            check_delivered(candidate, job)
            return candidate
    return None


def names_for(target: Path) -> Iterator[Path]:
    """`target`, then `target` with a suffix before its extension: " (2)", " (3)", …"""
    yield target
    number = 2
    while True:
        yield target.with_name(f"{target.stem} ({number}){target.suffix}")
        number += 1


# -- sidecar ------------------------------------------------------------------------------------


def write_sidecar(root: Path, job: Job, stopping: threading.Event) -> str:
    """Writes `NAME.frameio.json` beside the job's file, atomically (a re-delivered file's
    sidecar is replaced); returns its path relative to the root."""
    source = root / job.path
    check_delivered(source, job)
    digest = sha256_of(source, stopping)
    check_delivered(source, job)  # changed while it was read: the digest is of no delivered content
    sidecar = source.with_name(source.name + SIDECAR_SUFFIX)
    write_atomically(sidecar, json.dumps(sidecar_content(job, digest), indent=2) + "\n")
    return sidecar.relative_to(root).as_posix()


def sidecar_content(job: Job, sha256: str) -> dict[str, Any]:
    delivered_at = datetime.fromtimestamp(job.updated_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"view_url": job.view_url, "file_id": job.file_id, "version": job.version or 1, "size": job.size,
            "sha256": sha256, "delivered_at": delivered_at, "pipeline": job.pipeline, "project": job.project or None}


def sha256_of(path: Path, stopping: threading.Event) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as source:
        while read := source.readinto(buffer):
            if stopping.is_set():
                raise Stopped(path)
            digest.update(view[:read])
    return digest.hexdigest()
