"""A Frame.io for unit tests of the watcher's delivery logic: the FrameioClient calls it makes,
on an in-memory tree of folders, files and version stacks, each call counted in `calls`.

Knobs: `placement` ("top" or "bottom": where a file moved into a stack lands), `reorder_refused`,
`status_of[file_id]` (show file's `status`), `upload_of[file_id]` ((upload_complete, upload_failed)),
`fail_next[method]` (exceptions raised by the next calls of a method, in order) and `list_gate`
(an Event the listing of a folder waits for, to hold listings in flight)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from frameio.types import AssetWithIncludes_File, AssetWithIncludes_Folder, AssetWithIncludes_VersionStack

from postflow.frameio import ProjectRef, RequestFailed
from postflow.testing.watcher import make_job
from services.watcher import jobs
from services.watcher.connections import Destination
from services.watcher.folder_contents import FolderContents
from services.watcher.folders import FolderMirror
from services.watcher.jobs import Job, new_job_id
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat

ACCOUNT = "acct"
ROOT = "root"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Node:
    id: str
    type: str
    name: str
    parent_id: str
    created_at: datetime
    file_size: int = 0


@dataclass
class FakeFrameio:
    placement: str = "top"
    reorder_refused: bool = False
    calls: Counter = field(default_factory=Counter)
    nodes: dict[str, Node] = field(default_factory=dict)
    stacks: dict[str, list[str]] = field(default_factory=dict)  # oldest first
    status_of: dict[str, str] = field(default_factory=dict)
    upload_of: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    fail_next: dict[str, list[Exception]] = field(default_factory=dict)
    list_gate: asyncio.Event | None = None
    deleted: list[str] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- the test's side -------------------------------------------------------------------

    def add(self, type_: str, name: str, parent_id: str = ROOT, *, size: int = 0, status: str = "uploaded") -> str:
        node_id = f"{type_[:2]}{next(self._ids)}"
        self.nodes[node_id] = Node(node_id, type_, name, parent_id, EPOCH + timedelta(seconds=len(self.nodes)), size)
        if type_ == "file":
            self.status_of[node_id] = status
            self.upload_of[node_id] = (status in ("uploaded", "transcoded"), False)
        return node_id

    def children_of(self, parent_id: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.parent_id == parent_id]

    def _called(self, method: str) -> None:
        self.calls[method] += 1
        failures = self.fail_next.get(method)
        if failures:
            raise failures.pop(0)

    def _asset(self, node: Node):
        common: dict[str, Any] = {
            "id": node.id, "name": node.name, "parent_id": node.parent_id, "created_at": node.created_at,
            "updated_at": node.created_at, "project_id": "p", "view_url": f"https://view/{node.id}"}
        if node.type == "file":
            return AssetWithIncludes_File(file_size=node.file_size, status=self.status_of[node.id], **common)
        if node.type == "folder":
            return AssetWithIncludes_Folder(restricted=False, **common)
        return AssetWithIncludes_VersionStack(**common)

    # -- FrameioClient ---------------------------------------------------------------------

    async def project(self) -> ProjectRef:
        return ProjectRef(ACCOUNT, "p", ROOT)

    async def list_children(self, account_id: str, folder_id: str) -> list:
        self._called("list_children")
        if self.list_gate is not None:
            await self.list_gate.wait()
        return [self._asset(n) for n in self.children_of(folder_id)]

    async def create_folder(self, account_id: str, parent_id: str, name: str):
        self._called("create_folder")
        return SimpleNamespace(id=self.add("folder", name, parent_id))

    async def create_version_stack(self, account_id: str, folder_id: str, file_ids: list[str]) -> str:
        self._called("create_version_stack")
        if any(self.nodes[i].parent_id != folder_id for i in file_ids):
            raise RequestFailed("create version stack: HTTP 409 already stacked", 409)
        stack_id = self.add("version_stack", self.nodes[file_ids[-1]].name, folder_id)
        for file_id in file_ids:
            self.nodes[file_id].parent_id = stack_id
        self.stacks[stack_id] = list(file_ids)
        return stack_id

    async def add_to_version_stack(self, account_id: str, file_id: str, stack_id: str):
        self._called("add_to_version_stack")
        if stack_id not in self.stacks:
            raise RequestFailed("add to version stack: HTTP 404 Not Found", 404)
        if self.nodes[file_id].parent_id in self.stacks:
            raise RequestFailed("add to version stack: HTTP 409 already in a version stack", 409)
        self.nodes[file_id].parent_id = stack_id
        if self.placement == "top":
            self.stacks[stack_id].append(file_id)
        else:
            self.stacks[stack_id].insert(0, file_id)
        return SimpleNamespace(id=file_id)

    async def list_version_stack(self, account_id: str, stack_id: str) -> list:
        self._called("list_version_stack")
        return [self._asset(self.nodes[i]) for i in reversed(self.stacks[stack_id])]  # newest first

    async def reorder_version_stack(self, account_id: str, stack_id: str, file_id: str) -> None:
        self._called("reorder_version_stack")
        if self.reorder_refused:
            raise RequestFailed("reorder version stack: HTTP 404 Not Found", 404)
        self.stacks[stack_id].remove(file_id)
        self.stacks[stack_id].append(file_id)

    async def create_remote_upload(self, account_id: str, folder_id: str, name: str, source_url: str):
        self._called("create_remote_upload")
        return SimpleNamespace(id=self.add("file", name, folder_id, status="created"))

    async def show_file(self, account_id: str, file_id: str):
        self._called("show_file")
        if file_id not in self.nodes:
            raise RequestFailed("show file: HTTP 404", 404)
        node = self.nodes[file_id]
        return SimpleNamespace(id=file_id, status=self.status_of[file_id], file_size=node.file_size,
                               parent_id=node.parent_id, view_url=f"https://view/{file_id}")

    async def upload_status(self, account_id: str, file_id: str):
        self._called("upload_status")
        if file_id not in self.nodes:
            raise RequestFailed("upload status: HTTP 404", 404)
        complete, failed = self.upload_of[file_id]
        return SimpleNamespace(upload_complete=complete, upload_failed=failed)

    async def delete_file(self, account_id: str, file_id: str) -> None:
        self._called("delete_file")
        self.deleted.append(file_id)
        self.nodes.pop(file_id, None)


async def job_in_flight(ledger: Ledger, name: str, folder_id: str, file_id: str = "", *, size: int = 10,
                        every_byte_sent: bool = True) -> Job:
    """A job of a file called `name` (in a watch folder of its own) in an attempt: folder
    ready; UPLOADING to `file_id`, or VERIFYING once every byte went out; as the ledger holds it."""
    (job,), _ = await ledger.register([make_job(FileStat(f"{new_job_id()}/{name}", size, 1, 1))], "detected")
    steps = [jobs.start_attempt, lambda j: jobs.folder_ready(j, folder_id)]
    if file_id:
        steps.append(lambda j: jobs.upload_started(j, file_id))
        if every_byte_sent:
            steps.append(jobs.all_bytes_sent)
    for step in steps:
        updated = await ledger.update(job.id, job.epoch, step(job))
        assert updated is not None, "the job was just registered"
        job = updated
    return job


class FakeConnections:
    """The watcher's connections (services.watcher.connections) with one, on `fake`: every job's
    destination is the fake's one project."""

    def __init__(self, fake: FakeFrameio, ledger: Ledger) -> None:
        self.by_name = {"default": fake}
        self.folders = FolderMirror(fake, ledger, FolderContents(fake))  # type: ignore[arg-type]
        self.fake = fake

    async def destination(self, connection: str, project: str, create: bool) -> Destination:
        return Destination(self.fake, self.folders, await self.fake.project())  # type: ignore[arg-type]
