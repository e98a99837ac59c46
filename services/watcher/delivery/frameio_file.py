"""One Frame.io file of an account: where its upload stands, finding the one an interrupted
attempt created, and removing it."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from frameio.types import FileWithIncludes

from postflow.frameio import FrameioClient, RequestFailed
from services.watcher.jobs import Job

log = logging.getLogger(__name__)

CLOCK_SKEW_S = 120.0  # tolerance when matching a Frame.io creation time to our own clock


class FileState(enum.Enum):
    """Where the upload to a Frame.io file stands, as Frame.io reports it."""

    COMPLETE = "complete"
    IN_PROGRESS = "in progress"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True)
class FrameioFile:
    frameio: FrameioClient
    account_id: str
    id: str

    async def state(self) -> FileState:
        try:
            status = await self.frameio.upload_status(self.account_id, self.id)
        except RequestFailed as exc:
            if exc.status == 404:
                return FileState.GONE
            raise
        if status.upload_complete:
            return FileState.COMPLETE
        return FileState.FAILED if status.upload_failed else FileState.IN_PROGRESS

    async def show(self) -> FileWithIncludes | None:
        """The file as Frame.io shows it (None once it is gone)."""
        try:
            return await self.frameio.show_file(self.account_id, self.id)
        except RequestFailed as exc:
            if exc.status == 404:
                return None
            raise

    async def delete(self) -> None:
        try:
            await self.frameio.delete_file(self.account_id, self.id)
        except RequestFailed as exc:
            if exc.status != 404:
                raise

    async def discard(self) -> None:
        """Deletes the file unless its upload completed (a delivered file stays)."""
        if await self.state() != FileState.COMPLETE:
            await self.delete()

    @classmethod
    async def adopt(cls, frameio: FrameioClient, account_id: str, job: Job,
                    owned_elsewhere: Callable[[Collection[str]], Awaitable[set[str]]]) -> FrameioFile | None:
        """The file an earlier attempt of `job` created but did not live to record, if any:
        by name, size and creation time in the job's folder, and not another job's file.
        Extra matches (more than one interrupted attempt) are deleted."""
        children = await frameio.list_children(account_id, job.folder_id)
        mine = [c for c in children if c.type == "file" and c.name == job.name and c.file_size == job.size
                and c.created_at.timestamp() >= job.create_started_at - CLOCK_SKEW_S]
        taken = await owned_elsewhere([c.id for c in mine])
        mine = sorted((c for c in mine if c.id not in taken), key=lambda c: c.created_at)
        if not mine:
            return None
        for extra in mine[1:]:
            await cls(frameio, account_id, extra.id).delete()
        log.info("found the Frame.io file an interrupted attempt created")
        return cls(frameio, account_id, mine[0].id)
