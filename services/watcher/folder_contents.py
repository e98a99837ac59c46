"""What the watcher knows of the children of each Frame.io folder it delivers into.

A folder is listed (every page) the first time something needs it, and only once however
many jobs ask at the same moment; after that it is kept current from PostFlow's own changes
(folders made, files delivered, version stacks made or joined) instead of being listed per
delivery: Frame.io allows 100 list calls a minute per account, and a folder of n children
takes n/100 pages, so listing per delivery costs a call per file and grows with the folder.
Changes made by others show up when the folder is listed again: after Frame.io contradicts
what is known here (`stale`: a 404 or 409, an item not where it was thought to be).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass

from frameio.types import AssetWithIncludes, AssetWithIncludes_File

from postflow.frameio import FrameioClient

FOLDER = "folder"
FILE = "file"
VERSION_STACK = "version_stack"
UPLOADED = frozenset({"uploaded", "transcoded"})  # a file's `status` once Frame.io has all of it


@dataclass(frozen=True)
class Child:
    id: str
    type: str  # folder, file or version_stack
    name: str
    created_at: float  # epoch seconds
    uploaded: bool = True  # for a file: its upload is complete (always True for the other types)


def child_of(asset: AssetWithIncludes) -> Child:
    uploaded = asset.status in UPLOADED if isinstance(asset, AssetWithIncludes_File) else True
    return Child(asset.id, asset.type, asset.name, asset.created_at.timestamp(), uploaded)


class FolderContents:
    def __init__(self, frameio: FrameioClient) -> None:
        self.frameio = frameio
        self._children: dict[str, dict[str, Child]] = {}  # folder id → child id → child
        self._listing: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # one listing per folder
        self._names: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    async def named(self, account_id: str, folder_id: str, name: str) -> list[Child]:
        """The children of the folder called `name`."""
        return [c for c in await self._known(account_id, folder_id) if c.name == name]

    async def _known(self, account_id: str, folder_id: str) -> list[Child]:
        known = self._children.get(folder_id)
        if known is None:
            async with self._listing[folder_id]:
                known = self._children.get(folder_id)
                if known is None:
                    listed = await self.frameio.list_children(account_id, folder_id)
                    known = self._children[folder_id] = {asset.id: child_of(asset) for asset in listed}
        return list(known.values())

    def name_lock(self, folder_id: str, name: str) -> asyncio.Lock:
        """Held while deciding and making a change that depends on which children of the
        folder bear `name` (two versions of one name finishing together stack once)."""
        lock = self._names.get((folder_id, name))
        if lock is None:
            lock = self._names[(folder_id, name)] = asyncio.Lock()
        return lock

    def added(self, folder_id: str, child_id: str, type_: str, name: str, *, uploaded: bool = True) -> None:
        """PostFlow made (or finished uploading) `child_id` in the folder."""
        known = self._children.get(folder_id)
        if known is not None:
            earlier = known.get(child_id)
            created_at = earlier.created_at if earlier is not None else time.time()
            known[child_id] = Child(child_id, type_, name, created_at, uploaded)

    def made_folder(self, parent_id: str, folder_id: str, name: str) -> None:
        """PostFlow created the folder: known in its parent, and known to be empty."""
        self.added(parent_id, folder_id, FOLDER, name)
        self._children[folder_id] = {}

    def stacked(self, folder_id: str, stack_id: str, name: str, *file_ids: str) -> None:
        """PostFlow put these files of the folder into the folder's version stack `stack_id`."""
        self.removed(folder_id, *file_ids)
        known = self._children.get(folder_id)
        if known is not None and stack_id not in known:
            self.added(folder_id, stack_id, VERSION_STACK, name)

    def removed(self, folder_id: str, *child_ids: str) -> None:
        """PostFlow moved or deleted these children of the folder."""
        known = self._children.get(folder_id)
        if known is not None:
            for child_id in child_ids:
                known.pop(child_id, None)

    def stale(self, folder_id: str) -> None:
        """Frame.io contradicted what is known of the folder: list it again when next needed."""
        self._children.pop(folder_id, None)

    def forget(self) -> None:
        """Folders were deleted on Frame.io: list every folder again when next needed."""
        self._children.clear()
