"""What the emulator holds before anyone calls: its users, its accounts (each with its members,
workspaces and projects) and the OAuth clients beyond the default one. By default: one user in
one account, workspace and project (`DEFAULT_SEED`).

A seed file (`--seed FILE`) is JSON of this shape; every `id` is optional (a fresh UUID when
left out), `members` defaults to every user, `workspaces`, `projects` and `clients` to none:

    {"users": [{"name": "Ann", "email": "ann@a.test", "id": "…", "groups": ["postflow-admins"]}, …],
     "accounts": [{"name": "Studio A", "id": "…", "members": ["ann@a.test", "rey@a.test"], "admins": ["ann@a.test"],
                   "workspaces": [{"name": "Shows", "id": "…",
                                   "projects": [{"name": "Show 1", "id": "…", "root_folder_id": "…"}]}]}],
     "clients": [{"client_id": "studio-a", "client_secret": "…",
                  "user": "ann@a.test", "technical_user": "ann@a.test"}]}

An account's owner (its first member) and its `admins` (e-mails of members; default none) may
manage its webhooks; every other member is a plain member (a reviewer, say), who may still comment.
A client's `user` logs in at the authorize endpoint when no `login_hint` names another;
`technical_user` is who its client-credentials tokens act as. Both default to the first user.
A user's `groups` (default none) is emulator-only: IMS has no groups claim; the emulator's ID
tokens carry them as `groups`, for a relying party's role mapping (oidc.py).
A client listed with the default client's id replaces it (its secret and users)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class UserSpec:
    name: str
    email: str
    id: str | None = None
    groups: tuple[str, ...] = ()  # emulator-only (IMS has none): the ID token's `groups` claim


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    id: str | None = None
    root_folder_id: str | None = None


@dataclass(frozen=True)
class WorkspaceSpec:
    name: str
    id: str | None = None
    projects: tuple[ProjectSpec, ...] = ()


@dataclass(frozen=True)
class AccountSpec:
    name: str
    id: str | None = None
    members: tuple[str, ...] | None = None  # e-mails; None: every user
    workspaces: tuple[WorkspaceSpec, ...] = ()
    admins: tuple[str, ...] | None = None  # e-mails of members who are admins besides the owner


@dataclass(frozen=True)
class ClientSpec:
    client_id: str
    client_secret: str
    user: str | None = None  # e-mail; None: the first user
    technical_user: str | None = None  # e-mail; None: the first user


@dataclass(frozen=True)
class SeedSpec:
    users: tuple[UserSpec, ...]
    accounts: tuple[AccountSpec, ...]
    clients: tuple[ClientSpec, ...] = ()

    def __post_init__(self) -> None:
        """Cross-checks (ValueError naming the key): e-mails, ids and client ids unique, every
        member and client user a seeded user."""
        if not self.users:
            raise ValueError("users: at least one user is required")
        if not self.accounts:
            raise ValueError("accounts: at least one account is required")
        emails = [user.email.lower() for user in self.users]
        for index, email in enumerate(emails):
            if email in emails[:index]:
                raise ValueError(f"users[{index}].email: {email} is used by another user")
        for index, account in enumerate(self.accounts):
            for position, member in enumerate(account.members or ()):
                if member.lower() not in emails:
                    raise ValueError(f"accounts[{index}].members[{position}]: no user has the e-mail {member}")
            members = emails if account.members is None else [member.lower() for member in account.members]
            for position, admin in enumerate(account.admins or ()):
                if admin.lower() not in members:
                    raise ValueError(f"accounts[{index}].admins[{position}]: {admin} is not a member of the account")
        for index, client in enumerate(self.clients):
            if client.client_id in [c.client_id for c in self.clients[:index]]:
                raise ValueError(f"clients[{index}].client_id: {client.client_id} is listed twice")
            for key, named in (("user", client.user), ("technical_user", client.technical_user)):
                if named is not None and named.lower() not in emails:
                    raise ValueError(f"clients[{index}].{key}: no user has the e-mail {named}")
        first_keys: dict[str, str] = {}
        for key, value in self.explicit_ids():
            if value in first_keys:
                raise ValueError(f"{key}: {value} is already the id of {first_keys[value]}")
            first_keys[value] = key

    def explicit_ids(self) -> list[tuple[str, str]]:
        """(key, id) of every id the seed gives (users, accounts, workspaces, projects, root folders)."""
        ids = [(f"users[{u}].id", user.id) for u, user in enumerate(self.users)]
        for a, account in enumerate(self.accounts):
            ids.append((f"accounts[{a}].id", account.id))
            for w, workspace in enumerate(account.workspaces):
                where = f"accounts[{a}].workspaces[{w}]"
                ids.append((f"{where}.id", workspace.id))
                for p, project in enumerate(workspace.projects):
                    ids += [(f"{where}.projects[{p}].id", project.id),
                            (f"{where}.projects[{p}].root_folder_id", project.root_folder_id)]
        return [(key, value) for key, value in ids if value is not None]


DEFAULT_SEED = SeedSpec(
    users=(UserSpec("PostFlow Demo", "demo@postflow.invalid"),),
    accounts=(AccountSpec("PostFlow Demo Account", workspaces=(
        WorkspaceSpec("PostFlow", projects=(ProjectSpec("PostFlow Deliveries"),)),)),),
)


# -- reading a seed file ------------------------------------------------------------------------

def _key(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _fields(value: object, where: str, allowed: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where or 'the seed'}: must be a JSON object")
    for key in value:
        if key not in allowed:
            raise ValueError(f"{_key(where, key)}: unknown key (expected {', '.join(allowed)})")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: must be a non-empty string")
    return value


def _required(fields: dict, key: str, where: str) -> str:
    if key not in fields:
        raise ValueError(f"{_key(where, key)}: required")
    return _string(fields[key], _key(where, key))


def _optional(fields: dict, key: str, where: str) -> str | None:
    return None if fields.get(key) is None else _string(fields[key], _key(where, key))


def _list(fields: dict, key: str, where: str) -> list:
    value = fields.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{_key(where, key)}: must be a JSON list")
    return value


def _project(value: object, where: str) -> ProjectSpec:
    fields = _fields(value, where, ("name", "id", "root_folder_id"))
    return ProjectSpec(_required(fields, "name", where), _optional(fields, "id", where),
                       _optional(fields, "root_folder_id", where))


def _workspace(value: object, where: str) -> WorkspaceSpec:
    fields = _fields(value, where, ("name", "id", "projects"))
    return WorkspaceSpec(_required(fields, "name", where), _optional(fields, "id", where),
                         tuple(_project(p, f"{where}.projects[{i}]")
                               for i, p in enumerate(_list(fields, "projects", where))))


def _account(value: object, where: str) -> AccountSpec:
    fields = _fields(value, where, ("name", "id", "members", "admins", "workspaces"))
    members, admins = (None if key not in fields else
                       tuple(_string(e, f"{where}.{key}[{i}]") for i, e in enumerate(_list(fields, key, where)))
                       for key in ("members", "admins"))
    return AccountSpec(_required(fields, "name", where), _optional(fields, "id", where), members,
                       tuple(_workspace(w, f"{where}.workspaces[{i}]")
                             for i, w in enumerate(_list(fields, "workspaces", where))), admins)


def _user(value: object, where: str) -> UserSpec:
    fields = _fields(value, where, ("name", "email", "id", "groups"))
    groups = tuple(_string(g, f"{where}.groups[{i}]") for i, g in enumerate(_list(fields, "groups", where)))
    return UserSpec(_required(fields, "name", where), _required(fields, "email", where), _optional(fields, "id", where),
                    groups)


def _client(value: object, where: str) -> ClientSpec:
    fields = _fields(value, where, ("client_id", "client_secret", "user", "technical_user"))
    return ClientSpec(_required(fields, "client_id", where), _required(fields, "client_secret", where),
                      _optional(fields, "user", where), _optional(fields, "technical_user", where))


def seed_from_json(value: object) -> SeedSpec:
    """The seed a parsed seed file describes (ValueError naming the key, e.g. `accounts[0].name`)."""
    fields = _fields(value, "", ("users", "accounts", "clients"))
    for key in ("users", "accounts"):
        if key not in fields:
            raise ValueError(f"{key}: required")
    return SeedSpec(tuple(_user(u, f"users[{i}]") for i, u in enumerate(_list(fields, "users", ""))),
                    tuple(_account(a, f"accounts[{i}]") for i, a in enumerate(_list(fields, "accounts", ""))),
                    tuple(_client(c, f"clients[{i}]") for i, c in enumerate(_list(fields, "clients", ""))))


def load_seed(path: Path) -> SeedSpec:
    """The seed in the JSON file at `path` (ValueError naming the file and the key)."""
    try:
        return seed_from_json(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read: {exc.strerror}") from None
    except ValueError as exc:  # json.JSONDecodeError is one
        raise ValueError(f"{path}: {exc}") from None
