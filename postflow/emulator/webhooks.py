"""Frame.io v4's workspace webhooks: registration by an account admin (the secret shown once, in
the create answer), listing, showing, changing and deleting them. What they send is
deliveries.py's part.

Rules as documented: `POST …/workspaces/{id}/webhooks` takes `{"data": {"name", "url", "events"}}`
and answers 201 with the webhook and its `secret`; `PATCH …/webhooks/{id}` takes `name`, `url`,
`events` and `active`; events are the SDK's names. Choices where Frame.io does not say:
- every webhook call needs an account admin (the owner or a seeded `admins` member; 403 else);
- an unknown event name is a 422 naming it, and so is an empty event list;
- the URL must be https, except on a loopback host (127.0.0.0/8, ::1, localhost), where http is
  taken too with no switch to turn on: the tests' receivers listen there, and Frame.io's own
  deliveries could never reach a loopback host anyway."""

from __future__ import annotations

import ipaddress
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.emulator.directory import new_id
from postflow.emulator.frameio_api import account, body_data, caller, guarded_routes, page, per_minute, required_str
from postflow.emulator.resources import iso, user_json
from postflow.emulator.responses import ApiError

if TYPE_CHECKING:
    from postflow.emulator.app import EmulatorState

EVENTS = frozenset({
    "file.created", "file.upload.completed", "file.ready", "file.updated", "file.deleted", "file.versioned",
    "file.copied", "folder.created", "folder.updated", "folder.deleted", "folder.copied",
    "comment.created", "comment.updated", "comment.deleted", "comment.completed", "comment.uncompleted",
    "customfield.created", "customfield.updated", "customfield.deleted", "metadata.value.updated",
    "project.created", "project.updated", "project.deleted", "collection.created", "collection.updated",
    "collection.deleted", "share.created", "share.updated", "share.deleted", "share.viewed",
})
SORTS = {f"{key}_{order}": (key, order == "desc") for key in ("name", "created_at") for order in ("asc", "desc")}


@dataclass
class Webhook:
    id: str
    account_id: str
    workspace_id: str
    creator_id: str
    name: str
    url: str
    events: list[str]
    secret: str
    seq: int
    active: bool = True
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


class Webhooks:
    """Every registered webhook, by id."""

    def __init__(self) -> None:
        self._seq = itertools.count()
        self.clear()

    def clear(self) -> None:
        self.by_id: dict[str, Webhook] = {}

    def add(self, account_id: str, workspace_id: str, creator_id: str, name: str, url: str,
            events: list[str]) -> Webhook:
        webhook = Webhook(new_id(), account_id, workspace_id, creator_id, name, url, events,
                          secrets.token_hex(32), next(self._seq))
        self.by_id[webhook.id] = webhook
        return webhook

    def get(self, account_id: str, webhook_id: str) -> Webhook:
        webhook = self.by_id.get(webhook_id)
        if webhook is None or webhook.account_id != account_id:
            raise ApiError(404, f"Webhook {webhook_id} not found")
        return webhook

    def in_workspace(self, workspace_id: str) -> list[Webhook]:
        return sorted((w for w in self.by_id.values() if w.workspace_id == workspace_id), key=lambda w: w.seq)

    def listening(self, workspace_id: str, event: str) -> list[Webhook]:
        """The active webhooks of the workspace subscribed to `event`."""
        return [w for w in self.in_workspace(workspace_id) if w.active and event in w.events]


def webhook_json(webhook: Webhook) -> dict:
    return {"id": webhook.id, "name": webhook.name, "url": webhook.url, "events": list(webhook.events),
            "active": webhook.active, "workspace_id": webhook.workspace_id,
            "created_at": iso(webhook.created_at), "updated_at": iso(webhook.updated_at)}


# -- validation ------------------------------------------------------------------------------

def webhook_url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "url is required", "/data/url")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname and loopback(parts.hostname):
        return value
    raise ApiError(422, "url must be an https URL (http only on a loopback host)", "/data/url")


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def event_names(value: object) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        raise ApiError(422, "events must be a non-empty list of event names", "/data/events")
    unknown = sorted(set(value) - EVENTS)
    if unknown:
        raise ApiError(422, f"unknown event(s): {', '.join(unknown)}", "/data/events")
    return list(dict.fromkeys(value))


def admin_account(request: Request) -> str:
    """The path's account id, when the caller is one of its admins (403 else)."""
    member_of, user = account(request), caller(request)
    if member_of.role_of(user.id) not in ("owner", "admin"):
        raise ApiError(403, f"Only an admin of account {member_of.id} may manage its webhooks")
    return member_of.id


def path_webhook(request: Request, emulator: EmulatorState) -> Webhook:
    return emulator.webhooks.get(admin_account(request), request.path_params["webhook_id"])


# -- handlers --------------------------------------------------------------------------------

async def create_webhook(request: Request, emulator: EmulatorState) -> Response:
    account_id = admin_account(request)
    workspace = emulator.store.directory.workspace(account(request), request.path_params["workspace_id"])
    data = await body_data(request)
    name, url, events = required_str(data, "name"), webhook_url(data.get("url")), event_names(data.get("events"))
    webhook = emulator.webhooks.add(account_id, workspace.id, caller(request).id, name, url, events)
    return JSONResponse({"data": {**webhook_json(webhook), "secret": webhook.secret}}, status_code=201)


async def list_webhooks(request: Request, emulator: EmulatorState) -> Response:
    admin_account(request)
    workspace = emulator.store.directory.workspace(account(request), request.path_params["workspace_id"])
    query = request.query_params
    if query.get("include") not in (None, "creator"):
        raise ApiError(400, "include must be creator")
    webhooks = emulator.webhooks.in_workspace(workspace.id)
    if "sort" in query:
        if query["sort"] not in SORTS:
            raise ApiError(400, f"sort must be one of {', '.join(SORTS)}")
        key, descending = SORTS[query["sort"]]
        webhooks.sort(key=lambda w: (getattr(w, key), w.seq), reverse=descending)
    users = emulator.store.directory.users

    def render(webhook: Webhook) -> dict:
        if query.get("include") == "creator":
            return {**webhook_json(webhook), "creator": user_json(users[webhook.creator_id])}
        return webhook_json(webhook)

    return page(request, webhooks, render)


async def show_webhook(request: Request, emulator: EmulatorState) -> Response:
    return JSONResponse({"data": webhook_json(path_webhook(request, emulator))})


async def update_webhook(request: Request, emulator: EmulatorState) -> Response:
    webhook = path_webhook(request, emulator)
    data = await body_data(request)
    changes: dict = {}
    if data.get("name") is not None:
        changes["name"] = required_str(data, "name")
    if data.get("url") is not None:
        changes["url"] = webhook_url(data["url"])
    if data.get("events") is not None:
        changes["events"] = event_names(data["events"])
    if data.get("active") is not None:
        if not isinstance(data["active"], bool):
            raise ApiError(422, "active must be true or false", "/data/active")
        changes["active"] = data["active"]
    for key, value in changes.items():
        setattr(webhook, key, value)
    webhook.updated_at = time.time()
    return JSONResponse({"data": webhook_json(webhook)})


async def delete_webhook(request: Request, emulator: EmulatorState) -> Response:
    webhook = path_webhook(request, emulator)
    del emulator.webhooks.by_id[webhook.id]
    return Response(status_code=204)


def webhook_routes() -> list[Route]:
    in_workspace = "/v4/accounts/{account_id}/workspaces/{workspace_id}/webhooks"
    one = "/v4/accounts/{account_id}/webhooks/{webhook_id}"
    return guarded_routes([
        (in_workspace, "POST", create_webhook, per_minute("create_webhook", 10)),
        (in_workspace, "GET", list_webhooks, per_minute("webhooks", 100)),
        (one, "GET", show_webhook, per_minute("show_webhook", 100)),
        (one, "PATCH", update_webhook, per_minute("update_webhook", 10)),
        (one, "DELETE", delete_webhook, per_minute("delete_webhook", 60)),
    ])
