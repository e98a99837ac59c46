"""Version stacks: a re-export of a name already in the folder becomes its newest version.

The version stack or older file of that name is found among the folder's known children
(FolderContents), not by listing the folder per delivery. Where Frame.io puts a file moved
into a stack is undocumented, so the stack is then listed (Frame.io lists versions newest
first): a new file that is not on top is moved there (the stack's reorder call); if Frame.io
refuses, the file stays delivered where Frame.io put it, and the version reported is its real
position, counted from the bottom."""

from __future__ import annotations

import logging

from postflow.frameio import FrameioClient, RequestFailed
from postflow.v1 import watcher_pb2
from services.watcher import jobs
from services.watcher.delivery.record import JobRecord
from services.watcher.folder_contents import FILE, VERSION_STACK, FolderContents

log = logging.getLogger(__name__)


class Stacking:
    def __init__(self, frameio: FrameioClient, contents: FolderContents, account_id: str,
                 stack_by_default: bool) -> None:
        self.frameio = frameio
        self.contents = contents
        self.account_id = account_id
        self.stack_by_default = stack_by_default

    def wanted(self, version_policy: int) -> bool:
        if version_policy == watcher_pb2.VERSION_POLICY_UNSPECIFIED:
            return self.stack_by_default
        return version_policy == watcher_pb2.VERSION_POLICY_STACK

    async def stack(self, record: JobRecord, parent_id: str) -> tuple[str, int]:
        """Puts the job's delivered file on top of the version stack of its name in that
        folder (making a stack with the older file if there is none yet): (stack id, version),
        or ("", 0). Frame.io refusing (a full stack, a file moved meanwhile) leaves the file
        where it is, unstacked: the upload itself succeeded. `parent_id` is the file's parent
        as Frame.io shows it."""
        job = record.job
        on_top = True
        if parent_id and parent_id != job.folder_id:
            stack_id = parent_id  # stacked already: by an earlier attempt, or by another job as the older version
            on_top = job.stack_id == parent_id
        elif not self.wanted(job.version_policy):
            self.contents.added(job.folder_id, job.file_id, FILE, job.name)
            return "", 0
        else:
            async with self.contents.name_lock(job.folder_id, job.name):
                self.contents.added(job.folder_id, job.file_id, FILE, job.name)
                try:
                    stack_id, on_top = await self._join(job)
                except RequestFailed as exc:
                    log.warning("delivered without stacking it: %s", exc)
                    return "", 0
            if not stack_id:
                return "", 0
            await record.apply(jobs.stacked, stack_id)
        return stack_id, await self._version(job, stack_id, on_top)

    async def _join(self, job: jobs.Job, *, after_conflict: bool = False) -> tuple[str, bool]:
        """Adds the file to the newest stack of its name, or stacks it on the newest uploaded
        file of its name: (the stack's id or "" when there is neither, whether the file belongs
        on top). A refusal (the stack or the older file moved or deleted by someone else) lists
        the folder again and tries once more; a file that another job stacked already as the
        older version stays where it is."""
        same = [c for c in await self.contents.named(self.account_id, job.folder_id, job.name) if c.id != job.file_id]
        stacks = [c for c in same if c.type == VERSION_STACK]
        older = [c for c in same if c.type == FILE and c.uploaded]
        try:
            if stacks:
                stack_id = max(stacks, key=lambda c: c.created_at).id
                await self.frameio.add_to_version_stack(self.account_id, job.file_id, stack_id)
                self.contents.stacked(job.folder_id, stack_id, job.name, job.file_id)
                return stack_id, True
            if older:
                previous = max(older, key=lambda c: c.created_at)
                stack_id = await self.frameio.create_version_stack(self.account_id, job.folder_id,
                                                                   [previous.id, job.file_id])
                self.contents.stacked(job.folder_id, stack_id, job.name, previous.id, job.file_id)
                return stack_id, True
        except RequestFailed as exc:
            if exc.status == 409 and (where := (await self.frameio.show_file(self.account_id, job.file_id)).parent_id):
                if where != job.folder_id:
                    self.contents.removed(job.folder_id, job.file_id)
                    return where, False
            if after_conflict:
                raise
            log.info("Frame.io's folder differs from what the watcher knew (%s); listing it again", exc)
            self.contents.stale(job.folder_id)
            return await self._join(job, after_conflict=True)
        return "", False

    async def _version(self, job: jobs.Job, stack_id: str, on_top: bool) -> int:
        """The file's version number in the stack (1 = the oldest), moving it on top first
        if it belongs there and Frame.io put it lower; 0 if the stack does not hold it."""
        newest_first = [v.id for v in await self.frameio.list_version_stack(self.account_id, stack_id)]
        if job.file_id not in newest_first:
            self.contents.stale(job.folder_id)
            log.warning("Frame.io does not list the delivered file in version stack %s; version unknown", stack_id)
            return 0
        below_top = newest_first.index(job.file_id)
        if below_top == 0 or not on_top:
            return len(newest_first) - below_top
        try:
            await self.frameio.reorder_version_stack(self.account_id, stack_id, job.file_id)
        except RequestFailed as exc:
            version = len(newest_first) - below_top
            log.warning("delivered as version %d of %d, not the newest: Frame.io placed it under %d newer "
                        "version(s) and refused to reorder the stack (%s)", version, len(newest_first), below_top,
                        exc)
            return version
        log.info("Frame.io placed the new version %d below the top of its stack; moved it to the top", below_top)
        return len(newest_first)
