"""Who and what exists around the asset tree: users, accounts and their members, workspaces,
projects and the OAuth clients, built from the seed (seed.py) with fresh UUIDs wherever the
seed gives no id. Projects created through the API join the seeded ones until a reset.

Access is per account, as Frame.io's account membership: a member sees every workspace and
project of the account; anyone else gets 403 on a seeded account and 404 on an unknown one.
Workspace- and project-level permissions are not emulated."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TypeVar

from postflow.emulator.responses import ApiError
from postflow.emulator.seed import ClientSpec, SeedSpec


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    groups: tuple[str, ...] = ()  # emulator-only: the ID token's `groups` claim (oidc.py)


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    member_ids: tuple[str, ...]  # the first is the owner
    created_at: float
    admin_ids: tuple[str, ...] = ()  # who may manage the account's webhooks: the owner first

    def role_of(self, user_id: str) -> str:
        if self.member_ids and self.member_ids[0] == user_id:
            return "owner"
        return "admin" if user_id in self.admin_ids else "member"


@dataclass(frozen=True)
class Workspace:
    id: str
    account_id: str
    name: str
    creator_id: str
    created_at: float


@dataclass(frozen=True)
class Project:
    id: str
    account_id: str
    workspace_id: str
    name: str
    root_folder_id: str
    owner_id: str
    created_at: float
    restricted: bool = False
    seeded: bool = True


InAccount = TypeVar("InAccount", Workspace, Project)


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    user_id: str  # who logs in at the authorize endpoint without a login_hint
    technical_user_id: str  # who its client-credentials tokens act as


@dataclass(frozen=True)
class Seed:
    """The first seeded user, account, workspace and project: all a one-account client needs."""

    user: User
    account_id: str
    workspace_id: str | None
    project_id: str | None
    root_folder_id: str | None

    def describe(self) -> dict:
        return {"account_id": self.account_id, "workspace_id": self.workspace_id, "project_id": self.project_id,
                "root_folder_id": self.root_folder_id,
                "user": {"id": self.user.id, "name": self.user.name, "email": self.user.email}}


class Directory:
    def __init__(self, spec: SeedSpec, default_client: ClientSpec) -> None:
        now = time.time()
        self.users = {u.id: u for u in (User(s.id or new_id(), s.name, s.email, s.groups) for s in spec.users)}
        self.accounts: dict[str, Account] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.projects: dict[str, Project] = {}
        for account_spec in spec.accounts:
            emails = account_spec.members
            members = tuple(u.id for u in self.users.values() if emails is None or self._listed(u, emails))
            admins = members[:1] + tuple(u.id for u in self.users.values() if u.id in members[1:]
                                         and self._listed(u, account_spec.admins or ()))
            account = Account(account_spec.id or new_id(), account_spec.name, members, now, admins)
            self.accounts[account.id] = account
            for workspace_spec in account_spec.workspaces:
                workspace = Workspace(workspace_spec.id or new_id(), account.id, workspace_spec.name,
                                      self._owner(account), now)
                self.workspaces[workspace.id] = workspace
                for project_spec in workspace_spec.projects:
                    project = Project(project_spec.id or new_id(), account.id, workspace.id, project_spec.name,
                                      project_spec.root_folder_id or new_id(), self._owner(account), now)
                    self.projects[project.id] = project
        clients = {c.client_id: c for c in (default_client, *spec.clients)}
        self.clients = {c.client_id: OAuthClient(c.client_id, c.client_secret, self._user_id(c.user),
                                                 self._user_id(c.technical_user)) for c in clients.values()}
        self.seed = self._first()

    @staticmethod
    def _listed(user: User, emails: tuple[str, ...]) -> bool:
        return user.email.lower() in {e.lower() for e in emails}

    def _owner(self, account: Account) -> str:
        return account.member_ids[0] if account.member_ids else next(iter(self.users))

    def _user_id(self, email: str | None) -> str:
        user = self.user_by_email(email) if email is not None else None
        return (user or next(iter(self.users.values()))).id

    def _first(self) -> Seed:
        account = next(iter(self.accounts.values()))
        workspace = next(iter(self.workspaces_of(account)), None)
        project = next(iter(self.projects_in(workspace)), None) if workspace is not None else None
        return Seed(next(iter(self.users.values())), account.id, workspace.id if workspace else None,
                    project.id if project else None, project.root_folder_id if project else None)

    def clear(self) -> None:
        """Forgets the projects created through the API."""
        self.projects = {p.id: p for p in self.projects.values() if p.seeded}

    # -- lookups ---------------------------------------------------------------------------

    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email.lower() == email.lower()), None)

    def accounts_of(self, user: User) -> list[Account]:
        return [a for a in self.accounts.values() if user.id in a.member_ids]

    def account_for(self, user: User, account_id: str) -> Account:
        """`account_id` if `user` is a member: else 404 when no such account exists, 403 when it does."""
        account = self.accounts.get(account_id)
        if account is None:
            raise ApiError(404, f"Account {account_id} not found")
        if user.id not in account.member_ids:
            raise ApiError(403, f"You are not a member of account {account_id}")
        return account

    def workspaces_of(self, account: Account) -> list[Workspace]:
        return [w for w in self.workspaces.values() if w.account_id == account.id]

    @staticmethod
    def _in_account(held: dict[str, InAccount], wanted: str, account: Account, kind: str) -> InAccount:
        """`held[wanted]` if it belongs to `account`, else 404 (whether or not it exists elsewhere)."""
        found = held.get(wanted)
        if found is None or found.account_id != account.id:
            raise ApiError(404, f"{kind} {wanted} not found")
        return found

    def workspace(self, account: Account, workspace_id: str) -> Workspace:
        return self._in_account(self.workspaces, workspace_id, account, "Workspace")

    def projects_in(self, workspace: Workspace) -> list[Project]:
        return [p for p in self.projects.values() if p.workspace_id == workspace.id]

    def project(self, account: Account, project_id: str) -> Project:
        return self._in_account(self.projects, project_id, account, "Project")

    # -- changes ---------------------------------------------------------------------------

    def create_project(self, workspace: Workspace, name: str, owner: User, restricted: bool) -> Project:
        project = Project(new_id(), workspace.account_id, workspace.id, name, new_id(), owner.id, time.time(),
                          restricted, seeded=False)
        self.projects[project.id] = project
        return project

    # -- reports ---------------------------------------------------------------------------

    def describe(self) -> dict:
        """Users, accounts (members by e-mail, workspaces, projects) and clients (no secrets), in
        the seed file's shape with every id filled in; projects say whether they were seeded."""
        def project_json(project: Project) -> dict:
            return {"id": project.id, "name": project.name, "root_folder_id": project.root_folder_id,
                    "seeded": project.seeded}

        def workspace_json(workspace: Workspace) -> dict:
            return {"id": workspace.id, "name": workspace.name,
                    "projects": [project_json(p) for p in self.projects_in(workspace)]}

        return {
            "users": [{"id": u.id, "name": u.name, "email": u.email} for u in self.users.values()],
            "accounts": [{"id": a.id, "name": a.name, "members": [self.users[m].email for m in a.member_ids],
                          "admins": [self.users[m].email for m in a.admin_ids],
                          "workspaces": [workspace_json(w) for w in self.workspaces_of(a)]}
                         for a in self.accounts.values()],
            "clients": [{"client_id": c.client_id, "user": self.users[c.user_id].email,
                         "technical_user": self.users[c.technical_user_id].email} for c in self.clients.values()],
        }
