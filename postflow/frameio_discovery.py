"""Which Frame.io account and project PostFlow delivers into.

`frameio.account_id` / `frameio.project_id` pin them. What is not pinned is discovered: every
account, workspace and project visible to the user is listed (every page), and the first by
name (then id) at each level is taken, so the choice does not depend on listing order. The
choice is logged with names and ids, and how to pin another when there were several.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from frameio.types import Account, Project, Workspace

from postflow.frameio_errors import RequestFailed

if TYPE_CHECKING:
    from postflow.frameio import FrameioClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectRef:
    """The account and project deliveries go to, with names for people to read."""

    account_id: str
    project_id: str
    root_folder_id: str
    account_name: str = ""
    workspace_id: str = ""
    workspace_name: str = ""
    project_name: str = ""
    candidates: int = 1  # projects discovery could have picked (1 when frameio.project_id pins it)

    def describe(self) -> str:
        return (f"project {self.project_name!r} ({self.project_id}) in workspace {self.workspace_name!r} "
                f"({self.workspace_id}) of account {self.account_name!r} ({self.account_id})")


def _by_name(item: Account | Workspace | Project) -> tuple[str, str]:
    name = item.display_name if isinstance(item, Account) else item.name
    return name.casefold(), item.id


async def visible_accounts(client: FrameioClient) -> list[Account]:
    """The accounts deliveries may go to, by name (then id): the pinned one (the client's
    account_id) or every one the user can see; RequestFailed when there is none."""
    wanted = client.config.account_id
    accounts = sorted(await client.list_accounts(), key=_by_name)
    if wanted:
        accounts = [account for account in accounts if account.id == wanted]
        if not accounts:
            raise RequestFailed(f"frameio.account_id {wanted!r} is not an account this Frame.io user can see")
    elif not accounts:
        raise RequestFailed("no Frame.io account is visible to this user")
    return accounts


async def discover_project(client: FrameioClient) -> ProjectRef:
    """The pinned project, or the first one visible; logs the choice (one INFO line)."""
    config = client.config
    accounts = await visible_accounts(client)
    if config.account_id and config.project_id:
        chosen = await _pinned(client, accounts[0], config.project_id)
        log.info("Frame.io: delivering into %s", chosen.describe())
        return chosen
    found = [(account, space, project)
             for account in accounts
             for space in sorted(await client.list_workspaces(account.id), key=_by_name)
             for project in sorted(await client.list_projects(account.id, space.id), key=_by_name)
             if not config.project_id or project.id == config.project_id]
    if not found:
        where = f"account {accounts[0].display_name!r}" if config.account_id else "any account"
        if config.project_id:
            raise RequestFailed(f"frameio.project_id {config.project_id!r} is not a project of {where} "
                                "this Frame.io user can see")
        raise RequestFailed(f"no Frame.io project is visible to this user in {where}; create one")
    account, space, project = found[0]
    chosen = project_ref(account, space, project, candidates=1 if config.project_id else len(found))
    if chosen.candidates == 1:
        log.info("Frame.io: delivering into %s", chosen.describe())
    else:
        log.info("Frame.io: delivering into %s, the first by name of %d projects in %d account(s); "
                 "set frameio.account_id and frameio.project_id to pin another",
                 chosen.describe(), chosen.candidates, len({a.id for a, _, _ in found}))
    return chosen


async def _pinned(client: FrameioClient, account: Account, project_id: str) -> ProjectRef:
    try:
        return await project_by_id(client, account.id, account.display_name, project_id)
    except RequestFailed as exc:
        if exc.status != 404:
            raise
        raise RequestFailed(f"frameio.project_id {project_id!r} is not a project of account "
                            f"{account.display_name!r} this Frame.io user can see", exc.status) from None


async def project_by_id(client: FrameioClient, account_id: str, account_name: str, project_id: str) -> ProjectRef:
    """The project of that id, with the name of its workspace (for people to read)."""
    project = await client.show_project(account_id, project_id)
    spaces = [space for space in await client.list_workspaces(account_id) if space.id == project.workspace_id]
    workspace_name = spaces[0].name if spaces else ""
    return ProjectRef(account_id, project.id, project.root_folder_id, account_name, project.workspace_id,
                      workspace_name, project.name)


def project_ref(account: Account, space: Workspace, project: Project, candidates: int = 1) -> ProjectRef:
    return ProjectRef(account.id, project.id, project.root_folder_id, account.display_name, space.id, space.name,
                      project.name, candidates)
