"""Frame.io v4 under `/v4`: the calls PostFlow makes, with Frame.io's paths, bodies
(`{"data": {...}}`), response shapes, status codes, bearer checks and per-account rate limits.

Every call: counted (`/_emulator/calls`) → bearer token (401 if missing, unknown, expired or
revoked) → the path's account (404 if unknown, 403 if the token's user is not a member) →
rate limit (leaky bucket per account; `x-ratelimit-*` on every answer, 429 when the bucket is
full, no `Retry-After` unless a fault asks) → handler (404 unknown ids, and ids of another
account; 400 malformed request, 422 invalid body, 409 conflicts). An access token acts as
its user: `/v4/me` is that user, `/v4/accounts` lists only the accounts they are a member of.
Choices where Frame.io does not say:
- listings are in creation order by default, `page_size` defaults to 50 (at most 100), and
  the cursor is an opaque offset; `links.next` carries only `after`, as the SDK documents;
- a folder may hold several folders or files of the same name (Frame.io allows it, which is
  why a re-export becomes a version stack rather than a replacement), and a workspace
  several projects of the same name; `POST …/workspaces/{id}/projects` takes
  `{"data": {"name", "restricted"?}}` and answers 201 with the Project and its new root folder;
- a file already in a version stack cannot be stacked again (409), nor moved into the
  stack it is in (409); a stack whose last file leaves disappears;
- a file moved into a stack lands on top or at the bottom (`version_stack_placement`, head by
  default); a stack's children are listed head first; the experimental
  `PATCH …/version_stacks/{id}/versions` moves a version to the top or the bottom;
- the remote-upload source must answer a size probe before the 202 and be at most 50 GB,
  else 400 (or 422: `remote_upload_refusal`)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.emulator.directory import Account, User
from postflow.emulator.puller import ProbeError
from postflow.emulator.ratelimit import Limit
from postflow.emulator.resources import (
    account_json,
    asset_json,
    file_json,
    folder_json,
    profile_json,
    project_json,
    stack_json,
    upload_status_json,
    workspace_json,
)
from postflow.emulator.responses import ApiError, frameio_error
from postflow.emulator.store import Asset, File, Folder, VersionStack
from postflow.emulator.tokens import ACCESS

if TYPE_CHECKING:
    from postflow.emulator.app import EmulatorState

Handler = Callable[[Request, "EmulatorState"], Awaitable[Response]]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
ASSET_TYPES = ("file", "folder", "version_stack")
SORTS = {f"{key}_{order}": (key, order == "desc") for key in ("name", "created_at", "updated_at")
         for order in ("asc", "desc")}


def per_second(name: str, calls: int) -> Limit:
    return Limit(name, calls, 1.0)


def per_minute(name: str, calls: int) -> Limit:
    return Limit(name, calls, 60.0)


# -- request helpers -------------------------------------------------------------------------

async def body_data(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ApiError(422, 'The request body must be {"data": {...}}', "/data")
    return body["data"]


def required_str(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, f"{key} is required", f"/data/{key}")
    return value


def required_int(data: dict, key: str, minimum: int, maximum: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ApiError(422, f"{key} must be a whole number from {minimum} to {maximum}", f"/data/{key}")
    return value


def page(request: Request, items: list, render: Callable[[Any], dict]) -> JSONResponse:
    """One page of `items` with `links.next` (a path carrying only the `after` cursor)."""
    query = request.query_params
    try:
        size = int(query.get("page_size", DEFAULT_PAGE_SIZE))
        offset = int(base64.urlsafe_b64decode(query["after"]).decode()) if "after" in query else 0
    except ValueError:
        raise ApiError(400, "page_size or after is malformed") from None
    if not 1 <= size <= MAX_PAGE_SIZE or offset < 0:
        raise ApiError(400, f"page_size must be from 1 to {MAX_PAGE_SIZE}")
    end = offset + size
    next_link = None
    if end < len(items):
        next_link = f"{request.url.path}?after={base64.urlsafe_b64encode(str(end).encode()).decode()}"
    body: dict = {"data": [render(item) for item in items[offset:end]], "links": {"next": next_link}}
    if query.get("include_total_count") == "true":
        body["total_count"] = len(items)
    return JSONResponse(body)


def listed(request: Request, assets: list[Asset]) -> list[Asset]:
    """`assets` filtered by the `type` query parameter and ordered by `sort`."""
    query = request.query_params
    if "type" in query:
        types = {t.strip() for t in query["type"].split(",")}
        if not types <= set(ASSET_TYPES):
            raise ApiError(400, f"type must be among {', '.join(ASSET_TYPES)}")
        assets = [a for a in assets if a.type in types]
    if "sort" in query:
        if query["sort"] not in SORTS:
            raise ApiError(400, f"sort must be one of {', '.join(SORTS)}")
        key, descending = SORTS[query["sort"]]
        assets = sorted(assets, key=lambda a: (getattr(a, key), a.seq), reverse=descending)
    return assets


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, "source_url must be an http or https URL", "/data/source_url")
    return value


# -- handlers --------------------------------------------------------------------------------

def caller(request: Request) -> User:
    """The user the call's access token belongs to (set by the guard)."""
    user: User = request.state.user
    return user


def account(request: Request) -> Account:
    """The path's account, which the caller is a member of (checked by the guard)."""
    member_of: Account = request.state.account
    return member_of


async def me(request: Request, emulator: EmulatorState) -> Response:
    return JSONResponse({"data": profile_json(caller(request))})


async def accounts(request: Request, emulator: EmulatorState) -> Response:
    user = caller(request)
    return page(request, emulator.store.directory.accounts_of(user),
                lambda member_of: account_json(emulator.store, member_of, user))


async def workspaces(request: Request, emulator: EmulatorState) -> Response:
    return page(request, emulator.store.directory.workspaces_of(account(request)),
                lambda workspace: workspace_json(emulator.store, workspace))


async def projects(request: Request, emulator: EmulatorState) -> Response:
    directory = emulator.store.directory
    workspace = directory.workspace(account(request), request.path_params["workspace_id"])
    return page(request, directory.projects_in(workspace), lambda project: project_json(emulator.store, project))


async def create_project(request: Request, emulator: EmulatorState) -> Response:
    """`{"data": {"name", "restricted"?}}` → 201 with the Project (root folder included)."""
    workspace = emulator.store.directory.workspace(account(request), request.path_params["workspace_id"])
    data = await body_data(request)
    name, restricted = required_str(data, "name"), data.get("restricted", False)
    if not isinstance(restricted, bool):
        raise ApiError(422, "restricted must be true or false", "/data/restricted")
    project = emulator.store.create_project(workspace, name, caller(request), restricted)
    return JSONResponse({"data": project_json(emulator.store, project)}, status_code=201)


async def show_project(request: Request, emulator: EmulatorState) -> Response:
    project = emulator.store.directory.project(account(request), request.path_params["project_id"])
    return JSONResponse({"data": project_json(emulator.store, project)})


def path_folder(request: Request, emulator: EmulatorState) -> Folder:
    return emulator.store.folder(request.path_params["folder_id"], account(request).id)


def path_file(request: Request, emulator: EmulatorState) -> File:
    return emulator.store.file(request.path_params["file_id"], account(request).id)


def path_stack(request: Request, emulator: EmulatorState) -> VersionStack:
    return emulator.store.stack(request.path_params["stack_id"], account(request).id)


async def show_folder(request: Request, emulator: EmulatorState) -> Response:
    return JSONResponse({"data": folder_json(emulator.store, path_folder(request, emulator))})


async def folder_children(request: Request, emulator: EmulatorState) -> Response:
    store = emulator.store
    parent = path_folder(request, emulator)
    return page(request, listed(request, store.children(parent.id)), lambda asset: asset_json(store, asset))


async def create_folder(request: Request, emulator: EmulatorState) -> Response:
    parent = path_folder(request, emulator)
    name = required_str(await body_data(request), "name")
    created = emulator.store.create_folder(parent, name)
    return JSONResponse({"data": folder_json(emulator.store, created)}, status_code=201)


async def remote_upload(request: Request, emulator: EmulatorState) -> Response:
    folder = path_folder(request, emulator)
    data = await body_data(request)
    name, url = required_str(data, "name"), http_url(required_str(data, "source_url"))
    refusal = emulator.faults.refusal_status(emulator.options)
    try:
        probe = await emulator.puller.probe(url)
    except ProbeError as exc:
        raise ApiError(refusal, f"source_url could not be read: {exc}", "/data/source_url") from None
    limit = emulator.options.remote_upload_max_bytes
    if probe.size > limit:
        raise ApiError(refusal, f"the source holds {probe.size} bytes; remote upload takes at most {limit} "
                            "(use local upload)", "/data/source_url")
    file = emulator.store.create_file(folder, name, probe.size, "remote", caller(request).id)
    emulator.puller.start(file, url, probe)
    account_id = request.path_params["account_id"]
    return JSONResponse({"data": file_json(emulator.store, file),
                         "links": {"status": f"/v4/accounts/{account_id}/files/{file.id}/status"}}, status_code=202)


async def local_upload(request: Request, emulator: EmulatorState) -> Response:
    folder = path_folder(request, emulator)
    data = await body_data(request)
    name = required_str(data, "name")
    size = required_int(data, "file_size", 1, emulator.options.local_upload_max_bytes)
    file = emulator.store.create_file(folder, name, size, "local", caller(request).id)
    upload_urls = emulator.parts.open(file, str(request.base_url))
    return JSONResponse({"data": {**file_json(emulator.store, file), "upload_urls": upload_urls}}, status_code=201)


async def upload_status(request: Request, emulator: EmulatorState) -> Response:
    return JSONResponse({"data": upload_status_json(path_file(request, emulator))})


async def show_file(request: Request, emulator: EmulatorState) -> Response:
    return JSONResponse({"data": file_json(emulator.store, path_file(request, emulator))})


async def delete_file(request: Request, emulator: EmulatorState) -> Response:
    file = path_file(request, emulator)
    emulator.puller.cancel(file.id)
    emulator.store.delete_file(file)
    return Response(status_code=204)


async def move_file(request: Request, emulator: EmulatorState) -> Response:
    file = path_file(request, emulator)
    parent_id = required_str(await body_data(request), "parent_id")
    emulator.store.move_file(file, parent_id, emulator.faults.stack_placement(emulator.options))
    return JSONResponse({"data": file_json(emulator.store, file)})


async def create_stack(request: Request, emulator: EmulatorState) -> Response:
    folder = path_folder(request, emulator)
    file_ids = (await body_data(request)).get("file_ids")
    if not isinstance(file_ids, list) or not all(isinstance(i, str) for i in file_ids):
        raise ApiError(422, "file_ids must be a list of file ids", "/data/file_ids")
    stack = emulator.store.create_stack(folder, file_ids)
    return JSONResponse({"data": stack_json(emulator.store, stack)}, status_code=201)


async def show_stack(request: Request, emulator: EmulatorState) -> Response:
    stack = path_stack(request, emulator)
    return JSONResponse({"data": stack_json(emulator.store, stack)})


async def reorder_stack(request: Request, emulator: EmulatorState) -> Response:
    """Experimental: `{"data": {"target_file_id", "move_to": "top"|"bottom"}}` → the VersionStack."""
    stack = path_stack(request, emulator)
    data = await body_data(request)
    target, move_to = required_str(data, "target_file_id"), data.get("move_to")
    if move_to not in ("top", "bottom"):
        raise ApiError(422, "move_to must be top or bottom", "/data/move_to")
    emulator.store.reorder(stack, target, move_to)
    return JSONResponse({"data": stack_json(emulator.store, stack)})


async def stack_children(request: Request, emulator: EmulatorState) -> Response:
    store = emulator.store
    stack = path_stack(request, emulator)
    return page(request, listed(request, store.children(stack.id)), lambda asset: asset_json(store, asset))


# -- the guard every call passes -------------------------------------------------------------

def bearer_user(request: Request, emulator: EmulatorState) -> User:
    """The user of the request's active access token (401 if missing, unknown, expired or revoked)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "Authorization: Bearer <access token> is required")
    token = emulator.tokens.find(value.strip())
    state = token.state(time.time()) if token is not None and token.kind == ACCESS else "unknown"
    if token is None or state != "active":
        raise ApiError(401, f"The access token is {state}")
    return emulator.store.directory.users[token.user_id]


def guarded(handler: Handler, limit: Limit, route: str) -> Callable[[Request], Awaitable[Response]]:
    """`handler` behind the call counter (`route`: "METHOD /template"), the bearer check, the
    account check (the token's user must be a member of the path's account) and `limit`."""
    async def endpoint(request: Request) -> Response:
        emulator: EmulatorState = request.app.state.emulator
        emulator.calls[route] += 1
        headers: dict[str, str] = {}
        try:
            request.state.user = user = bearer_user(request, emulator)
            account_id = request.path_params.get("account_id")
            if account_id is not None:
                request.state.account = emulator.store.directory.account_for(user, account_id)
            if emulator.rate_limits_enabled:
                # Frame.io counts per account; calls outside any account (me, accounts) per user.
                verdict = emulator.rate_limits.hit(account_id or f"user:{user.id}", limit)
                headers = verdict.headers(emulator.faults.retry_after)
                if not verdict.allowed:
                    raise ApiError(429, f"Rate limit exceeded: {limit.calls} calls per {limit.window_s:g}s")
            response = await handler(request, emulator)
        except ApiError as exc:
            response = frameio_error(exc.status, exc.detail, exc.pointer)
        response.headers.update(headers)
        return response

    return endpoint


def frameio_routes() -> list[Route]:
    in_account = "/v4/accounts/{account_id}"
    table = [
        ("/v4/me", "GET", me, per_minute("me", 100)),
        ("/v4/accounts", "GET", accounts, per_minute("accounts", 100)),
        (f"{in_account}/workspaces", "GET", workspaces, per_minute("workspaces", 100)),
        (f"{in_account}/workspaces/{{workspace_id}}/projects", "GET", projects, per_minute("projects", 100)),
        (f"{in_account}/workspaces/{{workspace_id}}/projects", "POST", create_project,
         per_minute("create_project", 10)),
        (f"{in_account}/projects/{{project_id}}", "GET", show_project, per_minute("show_project", 100)),
        (f"{in_account}/folders/{{folder_id}}", "GET", show_folder, per_minute("show_folder", 100)),
        (f"{in_account}/folders/{{folder_id}}/children", "GET", folder_children, per_minute("children", 100)),
        (f"{in_account}/folders/{{folder_id}}/folders", "POST", create_folder, per_second("create_folder", 3)),
        (f"{in_account}/folders/{{folder_id}}/files/remote_upload", "POST", remote_upload,
         per_second("remote_upload", 5)),
        (f"{in_account}/folders/{{folder_id}}/files/local_upload", "POST", local_upload, per_second("local_upload", 5)),
        (f"{in_account}/folders/{{folder_id}}/version_stacks", "POST", create_stack,
         per_minute("create_version_stack", 10)),
        (f"{in_account}/files/{{file_id}}", "GET", show_file, per_second("show_file", 10)),
        (f"{in_account}/files/{{file_id}}", "DELETE", delete_file, per_minute("delete_file", 100)),
        (f"{in_account}/files/{{file_id}}/status", "GET", upload_status, per_second("upload_status", 5)),
        (f"{in_account}/files/{{file_id}}/move", "PATCH", move_file, per_minute("move_file", 100)),
        (f"{in_account}/version_stacks/{{stack_id}}", "GET", show_stack, per_minute("show_version_stack", 100)),
        (f"{in_account}/version_stacks/{{stack_id}}/children", "GET", stack_children,
         per_minute("version_stack_children", 100)),
        (f"{in_account}/version_stacks/{{stack_id}}/versions", "PATCH", reorder_stack,
         per_minute("reorder_version_stack", 10)),
    ]
    return guarded_routes(table)


def guarded_routes(table: Sequence[tuple[str, str, Handler, Limit]]) -> list[Route]:
    """Routes of (path, method, handler, limit), each handler behind `guarded`."""
    return [Route(path, guarded(handler, limit, f"{method} {path}"), methods=[method])
            for path, method, handler, limit in table]
