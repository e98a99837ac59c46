"""The thin layer over the official Frame.io SDK that every PostFlow service shares.

It adds what the SDK leaves to its caller: the access token comes from the auth service
(held for seconds at most), one retry after a 401 with a forced refresh, pacing per call family from
the documented limits and the `x-ratelimit-*` headers so a 429 stays rare (frameio_limits),
a wait for the bucket to drain after a 429 anyway, and bounded, randomized exponential
back-off from 30 s on 5xx and network errors. Errors are told apart by status code whatever
the body (frameio_errors) and come out as a few typed exceptions that say what the caller
should do: wait for a reconnect, try later, or give up.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from json import JSONDecodeError
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
from frameio import AsyncFrameio
from frameio.core.api_error import ApiError
from frameio.core.jsonable_encoder import encode_path_param
from frameio.core.parse_error import ParsingError
from frameio.core.request_options import RequestOptions
from frameio.files import FileCreateLocalUploadParamsData, FileCreateRemoteUploadParamsData, FileMoveParamsData
from frameio.folders import FolderCreateParamsData
from frameio.projects import ProjectParamsData
from frameio.types import (
    Account,
    AssetWithIncludes,
    File,
    FileUploadStatus,
    FileWithIncludes,
    FileWithUploadUrls,
    Folder,
    Project,
    ProjectWithIncludes,
    WorkspaceWithIncludes,
)
from frameio.version_stacks import VersionStackCreateParamsData

from postflow.core.backoff import Backoff
from postflow.core.config import FrameioConfig
from postflow.frameio_discovery import ProjectRef, discover_project
from postflow.frameio_errors import (
    Answer,
    FrameioError,
    RateLimited,
    ReconnectNeeded,
    RequestFailed,
    TransientError,
    classify,
    error_detail,
)
from postflow.frameio_limits import RATE_LIMITS, RateLimiter
from postflow.frameio_metrics import FrameioMeter
from postflow.frameio_tokens import AuthTokens, TokenSource

__all__ = ["RATE_LIMITS", "AuthTokens", "FrameioClient", "FrameioError", "ProjectRef", "RateLimited", "RateLimiter",
           "ReconnectNeeded", "RequestFailed", "TokenSource", "TransientError", "error_detail", "next_cursor"]

log = logging.getLogger(__name__)

T = TypeVar("T")
NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}
PAGE_SIZE = 100


class _Reply:
    """The status and headers of the answer one attempt got (filled by the httpx response hook)."""

    status: int | None = None
    headers: Mapping[str, str] | None = None


class FrameioClient:
    """Frame.io v4 calls with tokens from `tokens`, through the passed-in httpx client (which
    gets a response hook reading each answer's rate-limit headers for the call that made it).

    The limiters are per client, one per call family; a PostFlow connects one account, so that
    is Frame.io's per-account bucket. An idempotent call is retried `max_retries` times after a
    5xx or a network error, first after `server_error_backoff_s` (default: the config's
    `frameio.server_error_backoff_s`, 30 s as Frame.io asks) to twice that, doubling, at most
    `server_error_backoff_max_s`; a call is retried `rate_limit_retries` times after a 429.
    `meter` counts each answer and each wait for the pacing. `sleep`, `clock` and `rng` are
    injectable for tests."""

    def __init__(self, config: FrameioConfig, tokens: TokenSource, http: httpx.AsyncClient, *,
                 max_retries: int = 3, server_error_backoff_s: float | None = None,
                 server_error_backoff_max_s: float = 300.0, rate_limit_retries: int = 5,
                 limits: Mapping[str, tuple[int, float]] = RATE_LIMITS, meter: FrameioMeter | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic, rng: Callable[[], float] = random.random) -> None:
        self.config = config
        self._tokens = tokens
        self._token_var: contextvars.ContextVar[str] = contextvars.ContextVar("frameio_token", default="")
        self._reply_var: contextvars.ContextVar[_Reply | None] = contextvars.ContextVar("frameio_reply",
                                                                                       default=None)
        http.event_hooks["response"].append(self._record_reply)
        self.sdk = AsyncFrameio(base_url=config.api_base_url, token=self._token_var.get,
                                async_token=self._current_token, httpx_client=http)
        self._limiters = {family: RateLimiter(*limit, clock=clock, sleep=sleep) for family, limit in limits.items()}
        self.max_retries = max_retries
        self.server_error_backoff_s = (config.server_error_backoff_s if server_error_backoff_s is None
                                       else server_error_backoff_s)
        self.server_error_backoff_max_s = server_error_backoff_max_s
        self.rate_limit_retries = rate_limit_retries
        self._meter = meter
        self._sleep = sleep
        self._rng = rng
        self._project: ProjectRef | None = None
        self._discovery: asyncio.Task[ProjectRef] | None = None

    async def _current_token(self) -> str:
        return self._token_var.get()

    async def _record_reply(self, response: httpx.Response) -> None:
        reply = self._reply_var.get()
        if reply is not None:
            reply.status, reply.headers = response.status_code, response.headers

    async def call(self, family: str, fn: Callable[[RequestOptions], Awaitable[T]], *, what: str,
                   idempotent: bool = True) -> T:
        """Runs `fn(request_options)` with a token, the family's pacing and our retries.

        A 401 is retried once with a forced refresh; a 429 after the wait it asks for (the
        whole family waits); a 5xx or network error, when the call is idempotent, after a
        back-off from `server_error_backoff_s`, during which nothing shared is held, so other
        calls go on. A call that is not idempotent (it creates something) is retried only
        after a 429, which Frame.io answers before doing anything; other failures surface as
        TransientError so the caller can check what exists before trying again."""
        limiter = self._limiters.get(family, self._limiters["other"])
        token = await self._tokens.access_token()
        refreshed = False
        rate_limited = 0
        trouble = Backoff(2 * self.server_error_backoff_s, self.server_error_backoff_max_s, rng=self._rng)
        while True:
            waited_s = await limiter.acquire()
            if waited_s and self._meter is not None:
                self._meter.waited(family, waited_s)
            self._token_var.set(token)
            reply = _Reply()
            self._reply_var.set(reply)
            try:
                return await fn(NO_SDK_RETRIES)
            except (ApiError, ParsingError) as exc:
                failure: ApiError | ParsingError | httpx.TransportError = exc
            except httpx.TransportError as exc:
                failure = exc
            finally:
                limiter.answered(reply.headers)
                if self._meter is not None:
                    self._meter.answered(family, reply.status)
            if isinstance(failure, httpx.TransportError):
                reason, status = f"{type(failure).__name__} {failure}".rstrip(), None
                if not idempotent:
                    raise TransientError(f"{what}: {reason}") from None
            else:
                answer, status = classify(failure), failure.status_code
                reason = f"HTTP {status} {error_detail(failure)}".rstrip()
                if answer is Answer.UNAUTHORIZED:
                    if refreshed:
                        raise ReconnectNeeded(f"{what}: Frame.io rejected a freshly refreshed token") from None
                    token = await self._tokens.access_token(force_refresh=True, rejected_token=token)
                    refreshed = True
                    continue
                if answer is Answer.RATE_LIMITED:
                    rate_limited += 1
                    if rate_limited > self.rate_limit_retries:
                        raise RateLimited(f"{what}: still rate limited (429) after {rate_limited} tries", 429)
                    wait_s = limiter.rate_limited_wait_s(rate_limited, failure.headers, self._rng)
                    log.debug("Frame.io %s: rate limited (429); %s calls wait %.1fs", what, family, wait_s)
                    limiter.pause(wait_s)
                    continue
                if answer is Answer.UNREADABLE:
                    raise RequestFailed(f"{what}: unexpected response (HTTP {status})", status) from None
                if answer is Answer.REFUSED or not idempotent:
                    error = RequestFailed if answer is Answer.REFUSED else TransientError
                    raise error(f"{what}: {reason}", status) from None
            delay = trouble.failed()
            if trouble.failures > self.max_retries:
                raise TransientError(f"{what}: {reason}, still failing after {trouble.failures} tries", status)
            log.warning("Frame.io %s: %s; retrying in %.0fs", what, reason, delay)
            await self._sleep(delay)

    async def _send(self, method: str, path: str, body: Any, options: RequestOptions) -> Any:
        """One request the SDK has no method for, through the SDK's own HTTP machinery (base
        URL, token, timeouts); a failure comes out as the SDK's ApiError, so `call` treats it
        like any other. Returns the answer's JSON (or text)."""
        response = await self.sdk._client_wrapper.httpx_client.request(path, method=method, json=body,
                                                                       request_options=options)
        try:
            answer = response.json()
        except JSONDecodeError:
            answer = response.text
        if not response.is_success:
            raise ApiError(status_code=response.status_code, headers=dict(response.headers), body=answer)
        return answer

    # -- typed calls PostFlow uses ------------------------------------------------------

    async def project(self) -> ProjectRef:
        """The configured account and project, or the first ones visible to the user (see
        frameio_discovery). Discovered once; concurrent callers share one discovery, and one
        that fails is tried afresh by the next caller."""
        if self._project is not None:
            return self._project
        if self._discovery is None or self._discovery.done():
            self._discovery = asyncio.get_running_loop().create_task(self._discover())
            self._discovery.add_done_callback(_consume_outcome)
        # shielded: a caller that gives up does not cancel the discovery others wait for
        return await asyncio.shield(self._discovery)

    async def _discover(self) -> ProjectRef:
        self._project = await discover_project(self)
        return self._project

    async def list_accounts(self) -> list[Account]:
        return await self.every_page("list accounts", lambda after, o: self.sdk.accounts.index(
            after=after, page_size=PAGE_SIZE, request_options=o))

    async def list_workspaces(self, account_id: str) -> list[WorkspaceWithIncludes]:
        return await self.every_page("list workspaces", lambda after, o: self.sdk.workspaces.index(
            account_id, after=after, page_size=PAGE_SIZE, request_options=o))

    async def list_projects(self, account_id: str, workspace_id: str) -> list[ProjectWithIncludes]:
        return await self.every_page("list projects", lambda after, o: self.sdk.projects.index(
            account_id, workspace_id, after=after, page_size=PAGE_SIZE, request_options=o))

    async def show_project(self, account_id: str, project_id: str) -> ProjectWithIncludes:
        response = await self.call("other", lambda o: self.sdk.projects.show(account_id, project_id,
                                                                            request_options=o),
                                   what="show project")
        return response.data

    async def create_project(self, account_id: str, workspace_id: str, name: str) -> Project:
        response = await self.call("project_create", lambda o: self.sdk.projects.create(
            account_id, workspace_id, data=ProjectParamsData(name=name), request_options=o),
            what=f"create project {name!r}", idempotent=False)
        return response.data

    async def list_children(self, account_id: str, folder_id: str) -> list[AssetWithIncludes]:
        return await self.every_page("list folder", lambda after, o: self.sdk.folders.index(
            account_id, folder_id, after=after, page_size=PAGE_SIZE, request_options=o))

    async def every_page(self, what: str, index: Callable[[str | None, RequestOptions], Awaitable[Any]], *,
                         family: str = "list") -> list[Any]:
        """Every item of a paged listing, one rate-limited call per page (cursor from `links.next`)."""
        items: list[Any] = []
        after: str | None = None
        while True:
            page = await self.call(family, partial(index, after), what=what)
            items.extend(page.items or [])
            after = next_cursor(page.response.links.next if page.response.links else None)
            if not after:
                return items

    async def create_folder(self, account_id: str, parent_id: str, name: str) -> Folder:
        response = await self.call("folder_create", lambda o: self.sdk.folders.create(
            account_id, parent_id, data=FolderCreateParamsData(name=name), request_options=o),
            what=f"create folder {name!r}", idempotent=False)
        return response.data

    async def create_remote_upload(self, account_id: str, folder_id: str, name: str, source_url: str) -> File:
        response = await self.call("upload", lambda o: self.sdk.files.create_remote_upload(
            account_id, folder_id, data=FileCreateRemoteUploadParamsData(name=name, source_url=source_url),
            request_options=o), what="remote upload", idempotent=False)
        return response.data

    async def create_local_upload(self, account_id: str, folder_id: str, name: str, size: int) -> FileWithUploadUrls:
        response = await self.call("upload", lambda o: self.sdk.files.create_local_upload(
            account_id, folder_id, data=FileCreateLocalUploadParamsData(name=name, file_size=size),
            request_options=o), what="local upload", idempotent=False)
        return response.data

    async def upload_status(self, account_id: str, file_id: str) -> FileUploadStatus:
        response = await self.call("status", lambda o: self.sdk.files.show_file_upload_status(
            account_id, file_id, request_options=o), what="upload status")
        return response.data

    async def show_file(self, account_id: str, file_id: str) -> FileWithIncludes:
        response = await self.call("show", lambda o: self.sdk.files.show(account_id, file_id, request_options=o),
                                   what="show file")
        return response.data

    async def delete_file(self, account_id: str, file_id: str) -> None:
        await self.call("other", lambda o: self.sdk.files.delete(account_id, file_id, request_options=o),
                        what="delete file")

    async def create_version_stack(self, account_id: str, folder_id: str, file_ids: list[str]) -> str:
        """Stacks `file_ids` (oldest first); returns the stack id."""
        response = await self.call("version_stack", lambda o: self.sdk.version_stacks.create(
            account_id, folder_id, data=VersionStackCreateParamsData(file_ids=file_ids), request_options=o),
            what="create version stack", idempotent=False)
        return response.data.id

    async def add_to_version_stack(self, account_id: str, file_id: str, stack_id: str) -> File:
        """Moves a file into a version stack, where it becomes the newest version."""
        response = await self.call("version_stack", lambda o: self.sdk.files.move(
            account_id, file_id, data=FileMoveParamsData(parent_id=stack_id), request_options=o),
            what="add to version stack")
        return response.data

    async def reorder_version_stack(self, account_id: str, stack_id: str, file_id: str) -> None:
        """Puts `file_id` on top of its version stack (its head, the newest version):
        `PATCH /version_stacks/{id}/versions`, which SDK 4.0.0 has no method for. Frame.io
        answers 422 when it cannot reorder. List the stack to see the order: what the answer
        holds differs between the docs (the assets) and the emulator (the stack)."""
        path = f"v4/accounts/{encode_path_param(account_id)}/version_stacks/{encode_path_param(stack_id)}/versions"
        body = {"data": {"target_file_id": file_id, "move_to": "top"}}
        await self.call("version_stack", partial(self._send, "PATCH", path, body), what="reorder version stack")

    async def list_version_stack(self, account_id: str, stack_id: str) -> list[AssetWithIncludes]:
        return await self.every_page("list version stack", lambda after, o: self.sdk.version_stacks.index(
            account_id, stack_id, after=after, page_size=PAGE_SIZE, request_options=o))


def _consume_outcome(task: asyncio.Task[Any]) -> None:
    """Marks a shared task's exception as seen: its waiters get it, and if none is left
    asyncio need not warn about it."""
    if not task.cancelled():
        task.exception()


def next_cursor(next_link: str | None) -> str | None:
    """The `after` cursor carried by a `links.next` path, if any."""
    if not next_link:
        return None
    values = parse_qs(urlsplit(next_link).query).get("after")
    return values[0] if values else None
