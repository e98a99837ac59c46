"""A job's Frame.io project, as its route names it: "" for the connection's default (pinned or
discovered, see frameio_discovery), a project id, or a name looked up in every workspace of the
connection's account. A name no project has is created (in the account's first workspace by
name) when the pipeline says `create_projects`; a name two projects have is refused, naming
them, since files must not land in a project picked at random. Found projects are kept."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable

from postflow.frameio import FrameioClient, FrameioError, ProjectRef, RequestFailed
from postflow.frameio_discovery import project_by_id, project_ref, visible_accounts
from services.watcher.routing import NamedProject

log = logging.getLogger(__name__)

PROJECT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


class Projects:
    def __init__(self, frameio: FrameioClient) -> None:
        self.frameio = frameio
        self._found: dict[str, ProjectRef] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def resolve(self, project: str, *, create: bool) -> ProjectRef:
        if not project:
            return await self.frameio.project()
        if project in self._found:
            return self._found[project]
        async with self._locks[project]:
            if project not in self._found:
                self._found[project] = await (self._by_id(project) if PROJECT_ID.match(project)
                                              else self._by_name(project, create))
            return self._found[project]

    def forget(self, project: str) -> None:
        """Drops what was found for `project` (it was deleted or renamed on Frame.io)."""
        self._found.pop(project, None)

    async def _by_id(self, project_id: str) -> ProjectRef:
        account = (await visible_accounts(self.frameio))[0]  # the configured one, or the first by name
        return await project_by_id(self.frameio, account.id, account.display_name, project_id)

    async def _by_name(self, name: str, create: bool) -> ProjectRef:
        account = (await visible_accounts(self.frameio))[0]
        account_id, account_name = account.id, account.display_name
        spaces = sorted(await self.frameio.list_workspaces(account_id), key=lambda w: (w.name.casefold(), w.id))
        found = [project_ref(account, space, project)
                 for space in spaces for project in await self.frameio.list_projects(account_id, space.id)
                 if project.name == name]
        if len(found) > 1:
            ids = ", ".join(f"{ref.project_id} in workspace {ref.workspace_name!r}" for ref in found)
            raise RequestFailed(f"project {name!r} names {len(found)} projects of account {account_name!r} ({ids}); "
                                "give the project's id instead of its name")
        if found:
            return found[0]
        if not create:
            raise RequestFailed(f"no project named {name!r} in account {account_name!r}; create it on Frame.io, or "
                                "set create_projects on the pipeline")
        if not spaces:
            raise RequestFailed(f"account {account_name!r} has no workspace to create project {name!r} in")
        space = spaces[0]
        project = await self.frameio.create_project(account_id, space.id, name)
        log.info("created Frame.io project %r (%s) in workspace %r", name, project.id, space.name)
        return project_ref(account, space, project)


async def check_named_projects(named: list[NamedProject], projects_of: Callable[[str], Projects],
                               connected: Callable[[str], Awaitable[None]]) -> None:
    """At start, each project the config names outright is looked up once its connection is
    connected: one that cannot be found (and is not to be created) or that names two projects is
    logged as the config error it is, naming the key, before any file is sent its way."""
    for project in named:
        await connected(project.connection)
        try:
            await projects_of(project.connection).resolve(project.project, create=False)
        except RequestFailed as exc:
            if not (project.create and "no project named" in str(exc)):
                log.error("config error: %s: %s", project.key, exc)
        except FrameioError as exc:
            log.warning("could not look up %s (%r) at start: %s", project.key, project.project, exc)
