"""The emulator's Frame.io state, in memory: the directory of users, accounts, workspaces and
projects (directory.py), each project's asset tree (folders, files, version stacks) and each
file's upload record.

Rules follow Frame.io v4 as far as it is documented; where it is not, the choice is noted:
- names need not be unique among siblings (folders and files alike), nor among projects;
- an asset asked for under another account than its own is not found (404), whether or not
  the caller may see that account;
- a version stack keeps its files bottom (oldest) to top (head); the head names the stack, and
  its children are listed head first. A file moved into a stack lands on top (the head) or at
  the bottom, as `version_stack_placement` says (Frame.io does not document it), and the
  experimental reorder call moves a file to the top or the bottom;
- a file's `status` is `created` until the upload completes (`processing_delay_s` after its
  last byte arrived), `uploaded` then, and `transcoded` `transcode_delay_s` later (computed on
  read, no timers);
- `events` (webhooks.py's sender, when set) hears of each upload completing (`file.upload.completed`
  when `upload_complete` turns true, `file.ready` when `status` turns `transcoded`) and of each file
  joining a version stack (`file.versioned`: the head of a new stack, or the file moved in)."""

from __future__ import annotations

import itertools
import mimetypes
import time
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar

from postflow.emulator.digest import OrderedDigest
from postflow.emulator.directory import Directory, Project, User, Workspace, new_id
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.responses import ApiError
from postflow.emulator.seed import ClientSpec

MAX_STACK_FILES = 10  # when a stack is created; moving files into one has no documented cap
EXTRA_MEDIA_TYPES = {".mxf": "application/mxf"}  # beyond Python's built-in table


@dataclass
class Asset:
    id: str
    name: str
    parent_id: str | None
    project_id: str
    created_at: float
    updated_at: float
    seq: int  # creation order, the default listing order

    type: ClassVar[str]


@dataclass
class Folder(Asset):
    type = "folder"


@dataclass
class PullRecord:
    """How the remote-upload puller fetched a file (HTTP requests it made, bytes it got)."""

    strategy: str
    chunk_size: int | None
    parallelism: int
    user_agent: str
    requests: list[dict] = field(default_factory=list)
    bytes: int = 0
    retries: int = 0
    disconnects: int = 0

    def describe(self) -> dict:
        ranges = [r["range"] for r in self.requests if r.get("range")]
        return {"strategy": self.strategy, "chunk_size": self.chunk_size, "parallelism": self.parallelism,
                "user_agent": self.user_agent, "requests": len(self.requests), "request_log": self.requests,
                "ranges": ranges, "bytes": self.bytes, "retries": self.retries, "disconnects": self.disconnects}


@dataclass
class Part:
    size: int
    state: str = "pending"  # pending → receiving → stored
    md5: str | None = None


@dataclass
class Upload:
    """A file's bytes on their way in: by the puller (`remote`) or by part PUTs (`local`)."""

    method: str
    started_at: float
    sha256: str | None = None
    last_byte_at: float | None = None
    completed_at: float | None = None  # last_byte_at + the processing delay: may lie ahead
    failed_at: float | None = None
    failure_reason: str | None = None
    pull: PullRecord | None = None
    upload_id: str = field(default_factory=new_id)
    parts: list[Part] = field(default_factory=list)
    digest: OrderedDigest | None = None

    def complete(self, now: float | None = None) -> bool:
        """Whether Frame.io has finished processing the bytes (`upload_complete`)."""
        return self.completed_at is not None and (time.time() if now is None else now) >= self.completed_at


@dataclass(kw_only=True)
class File(Asset):
    file_size: int
    media_type: str | None
    upload: Upload
    creator_id: str | None = None  # the user whose call created it (webhook payloads name them)

    type = "file"

    def status(self, transcode_delay_s: float) -> str:
        now = time.time()
        done = self.upload.completed_at
        if done is None or not self.upload.complete(now):
            return "created"
        return "transcoded" if now >= done + transcode_delay_s else "uploaded"


@dataclass(kw_only=True)
class VersionStack(Asset):
    file_ids: list[str]  # bottom (oldest) first; the last is the head

    type = "version_stack"


AssetT = TypeVar("AssetT", bound=Asset)


class FileEvents(Protocol):
    def file_event(self, event: str, file: File, delay_s: float = 0.0) -> None:
        """`event` happened to `file` (or will, `delay_s` from now)."""


class Store:
    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.directory = Directory(options.seed, ClientSpec(options.client_id, options.client_secret))
        self.seed = self.directory.seed
        self._seq = itertools.count()
        self.assets: dict[str, Asset] = {}
        self.events: FileEvents | None = None
        # Python's built-in table only: the host's /etc/mime.types must not change answers.
        self._media_types = mimetypes.MimeTypes()
        for extension, media_type in EXTRA_MEDIA_TYPES.items():
            self._media_types.add_type(media_type, extension)
        self.clear()

    def clear(self) -> None:
        """Back to the seed: the seeded projects, each with only its root folder."""
        self.directory.clear()
        self.assets = {}
        for project in self.directory.projects.values():
            self._add_root(project)
        self.deleted: list[tuple[File, str, float]] = []  # (file, its folder path, when), for audits

    def _add_root(self, project: Project) -> None:
        root = Folder(project.root_folder_id, "root", None, project.id, project.created_at, project.created_at,
                      next(self._seq))
        self.assets[root.id] = root

    # -- lookups ---------------------------------------------------------------------------

    def account_of(self, asset: Asset) -> str:
        return self.directory.projects[asset.project_id].account_id

    def _get(self, kind: type[AssetT], asset_id: str, account_id: str | None) -> AssetT:
        asset = self.assets.get(asset_id)
        if not isinstance(asset, kind) or account_id not in (None, self.account_of(asset)):
            raise ApiError(404, f"{kind.type.replace('_', ' ').capitalize()} {asset_id} not found")
        return asset

    # `account_id`: the account the caller asked under (None: any, for the emulator's own use).
    def folder(self, folder_id: str, account_id: str | None = None) -> Folder:
        return self._get(Folder, folder_id, account_id)

    def file(self, file_id: str, account_id: str | None = None) -> File:
        return self._get(File, file_id, account_id)

    def stack(self, stack_id: str, account_id: str | None = None) -> VersionStack:
        return self._get(VersionStack, stack_id, account_id)

    def children(self, parent_id: str) -> list[Asset]:
        if isinstance(parent := self.assets.get(parent_id), VersionStack):
            return [self.assets[file_id] for file_id in reversed(parent.file_ids)]
        return sorted((a for a in self.assets.values() if a.parent_id == parent_id), key=lambda a: a.seq)

    def files(self) -> list[File]:
        return [a for a in self.assets.values() if isinstance(a, File)]

    def head(self, stack: VersionStack) -> File:
        return self.file(stack.file_ids[-1])

    def folder_path(self, asset: Asset) -> str:
        """Slash-separated folder names from the project root down to `asset`'s folder."""
        names: list[str] = []
        parent = self.assets.get(asset.parent_id or "")
        while parent is not None and parent.parent_id is not None:
            if isinstance(parent, Folder):
                names.append(parent.name)
            parent = self.assets.get(parent.parent_id)
        return "/".join(reversed(names))

    def storage_usage(self, project_ids: set[str]) -> int:
        """Bytes of the completed files in these projects."""
        return sum(f.file_size for f in self.files() if f.project_id in project_ids and f.upload.complete())

    # -- changes ---------------------------------------------------------------------------

    def create_project(self, workspace: Workspace, name: str, owner: User, restricted: bool) -> Project:
        """A new project with its root folder (names need not be unique)."""
        project = self.directory.create_project(workspace, name, owner, restricted)
        self._add_root(project)
        return project

    def create_folder(self, parent: Folder, name: str) -> Folder:
        now = time.time()
        folder = Folder(new_id(), name, parent.id, parent.project_id, now, now, next(self._seq))
        self.assets[folder.id] = folder
        return folder

    def create_file(self, parent: Folder, name: str, size: int, method: str, creator_id: str | None = None) -> File:
        now = time.time()
        file = File(new_id(), name, parent.id, parent.project_id, now, now, next(self._seq), file_size=size,
                    media_type=self._media_types.guess_type(name)[0], upload=Upload(method, now),
                    creator_id=creator_id)
        self.assets[file.id] = file
        return file

    def create_stack(self, folder: Folder, file_ids: list[str]) -> VersionStack:
        if not 2 <= len(file_ids) <= MAX_STACK_FILES:
            raise ApiError(422, f"file_ids must hold 2 to {MAX_STACK_FILES} file ids", "/data/file_ids")
        if len(set(file_ids)) != len(file_ids):
            raise ApiError(422, "file_ids must not repeat a file", "/data/file_ids")
        files = [self.file(file_id, self.account_of(folder)) for file_id in file_ids]
        for file in files:
            if isinstance(self.assets.get(file.parent_id or ""), VersionStack):
                raise ApiError(409, f"File {file.id} is already in version stack {file.parent_id}", "/data/file_ids")
            if file.parent_id != folder.id:
                raise ApiError(422, f"File {file.id} is not in folder {folder.id}", "/data/file_ids")
        now = time.time()
        stack = VersionStack(new_id(), files[-1].name, folder.id, folder.project_id, now, now, next(self._seq),
                             file_ids=list(file_ids))
        self.assets[stack.id] = stack
        for file in files:
            file.parent_id, file.updated_at = stack.id, now
        self._event("file.versioned", files[-1])
        return stack

    def move_file(self, file: File, parent_id: str, placement: str = "head") -> None:
        """Moves `file` into a folder or a version stack (on top when `placement` is head, else at the bottom)."""
        parent = self.assets.get(parent_id)
        if not isinstance(parent, Folder | VersionStack) or self.account_of(parent) != self.account_of(file):
            raise ApiError(404, f"Folder or version stack {parent_id} not found")
        if parent.project_id != file.project_id:
            raise ApiError(422, "files move only within their project", "/data/parent_id")
        if file.parent_id == parent.id and isinstance(parent, VersionStack):
            raise ApiError(409, f"File {file.id} is already in version stack {parent.id}")
        self._leave_stack(file)
        now = time.time()
        file.parent_id, file.updated_at = parent.id, now
        if isinstance(parent, VersionStack):
            parent.file_ids.insert(len(parent.file_ids) if placement == "head" else 0, file.id)
            parent.name, parent.updated_at = self.head(parent).name, now
            self._event("file.versioned", file)

    def reorder(self, stack: VersionStack, file_id: str, move_to: str) -> None:
        """Moves a file of `stack` to its `top` (the head) or its `bottom`."""
        if file_id not in stack.file_ids:
            raise ApiError(422, f"File {file_id} is not in version stack {stack.id}", "/data/target_file_id")
        stack.file_ids.remove(file_id)
        stack.file_ids.insert(len(stack.file_ids) if move_to == "top" else 0, file_id)
        stack.name, stack.updated_at = self.head(stack).name, time.time()

    def delete_file(self, file: File) -> None:
        self.deleted.append((file, self.folder_path(file), time.time()))
        self._leave_stack(file)
        del self.assets[file.id]

    def _leave_stack(self, file: File) -> None:
        stack = self.assets.get(file.parent_id or "")
        if not isinstance(stack, VersionStack):
            return
        stack.file_ids.remove(file.id)
        if stack.file_ids:
            stack.name, stack.updated_at = self.head(stack).name, time.time()
        else:
            del self.assets[stack.id]

    def complete_upload(self, file: File, sha256: str, processing_delay_s: float) -> None:
        """The last byte is in: the upload completes `processing_delay_s` from now."""
        now = time.time()
        file.upload.sha256, file.upload.last_byte_at, file.updated_at = sha256, now, now
        file.upload.completed_at = now + processing_delay_s
        self._event("file.upload.completed", file, processing_delay_s)
        self._event("file.ready", file, processing_delay_s + self.options.transcode_delay_s)

    def _event(self, event: str, file: File, delay_s: float = 0.0) -> None:
        if self.events is not None:
            self.events.file_event(event, file, delay_s)

    def fail_upload(self, file: File, reason: str) -> None:
        file.upload.failed_at, file.upload.failure_reason = time.time(), reason
