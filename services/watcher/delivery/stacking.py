"""Version stacks: a re-export of a name already in the folder becomes its newest version."""

from __future__ import annotations

import logging

from postflow.frameio import FrameioClient, RequestFailed
from postflow.v1 import watcher_pb2
from services.watcher import jobs
from services.watcher.delivery.record import JobRecord

log = logging.getLogger(__name__)


class Stacking:
    def __init__(self, frameio: FrameioClient, account_id: str, stack_by_default: bool) -> None:
        self.frameio = frameio
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
        if not self.wanted(job.version_policy):
            return "", 0
        if parent_id and parent_id != job.folder_id:
            stack_id = parent_id  # an earlier attempt stacked it already
        else:
            try:
                stack_id = await self._join(job)
            except RequestFailed as exc:
                log.warning("delivered without stacking it: %s", exc)
                return "", 0
            if not stack_id:
                return "", 0
            await record.apply(jobs.stacked, stack_id)
        return stack_id, len(await self.frameio.list_version_stack(self.account_id, stack_id))

    async def _join(self, job: jobs.Job) -> str:
        same = [c for c in await self.frameio.list_children(self.account_id, job.folder_id)
                if c.name == job.name and c.id != job.file_id]
        stacks = [c for c in same if c.type == "version_stack"]
        older = [c for c in same if c.type == "file" and c.status != "created"]
        if stacks:
            stack_id = max(stacks, key=lambda c: c.created_at).id
            await self.frameio.add_to_version_stack(self.account_id, job.file_id, stack_id)
            return stack_id
        if older:
            previous = max(older, key=lambda c: c.created_at)
            return await self.frameio.create_version_stack(self.account_id, job.folder_id, [previous.id, job.file_id])
        return ""
