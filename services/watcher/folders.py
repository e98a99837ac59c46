"""The Frame.io folder tree that mirrors the watch tree (`SQ01/SH010/` under the project's
root folder), created on demand. Ids are cached in the ledger; an existing folder is found
among its parent's known children (FolderContents) before anything is created, and a
concurrent creation is tolerated."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from postflow.frameio import FrameioClient, ProjectRef, RequestFailed
from services.watcher.folder_contents import FOLDER, FolderContents
from services.watcher.ledger import Ledger

log = logging.getLogger(__name__)


class FolderMirror:
    def __init__(self, frameio: FrameioClient, ledger: Ledger, contents: FolderContents) -> None:
        self.frameio = frameio
        self.ledger = ledger
        self.contents = contents
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def ensure(self, project: ProjectRef, destination: str) -> str:
        """The id of the Frame.io folder at `destination` ('A/B', '' = the project root)."""
        folder_id = project.root_folder_id
        path = ""
        for name in (part for part in destination.split("/") if part):
            path = f"{path}/{name}" if path else name
            folder_id = await self._child(project.account_id, project.root_folder_id, folder_id, path, name)
        return folder_id

    async def _child(self, account_id: str, root_id: str, parent_id: str, path: str, name: str) -> str:
        cached = await self.ledger.folder(root_id, path)
        if cached:
            return cached
        async with self._locks[f"{root_id}/{path}"]:
            cached = await self.ledger.folder(root_id, path)
            if cached:
                return cached
            folder_id = await self._find(account_id, parent_id, name)
            if folder_id is None:
                try:
                    folder_id = (await self.frameio.create_folder(account_id, parent_id, name)).id
                    self.contents.made_folder(parent_id, folder_id, name)
                    log.info("created Frame.io folder %s", path)
                except RequestFailed as exc:
                    # Someone else created it since the parent was listed.
                    self.contents.stale(parent_id)
                    folder_id = await self._find(account_id, parent_id, name)
                    if folder_id is None:
                        raise exc
            await self.ledger.save_folder(root_id, path, folder_id)
            return folder_id

    async def _find(self, account_id: str, parent_id: str, name: str) -> str | None:
        folders = [c for c in await self.contents.named(account_id, parent_id, name) if c.type == FOLDER]
        return folders[0].id if folders else None

    async def forget(self, project: ProjectRef) -> None:
        """Drops the project's cached ids (a cached folder was deleted on Frame.io)."""
        await self.ledger.forget_folders(project.root_folder_id)
        self.contents.forget()
