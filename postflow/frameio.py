"""The thin layer over the official Frame.io SDK that every PostFlow service shares.

It adds what the SDK leaves to its caller: the access token comes from the auth service
(never stored here), one retry after a 401 with a forced refresh, client-side rate limits
per call family so a 429 stays rare, `Retry-After` honoured when one comes anyway, and
bounded exponential backoff with jitter on 5xx and network errors. Errors come out as a
few typed exceptions that say what the caller should do: wait for a reconnect, try later,
or give up.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
from frameio import AsyncFrameio
from frameio.core.api_error import ApiError
from frameio.core.parse_error import ParsingError
from frameio.core.request_options import RequestOptions
from frameio.errors import TooManyRequestsError, UnauthorizedError
from frameio.files import FileCreateLocalUploadParamsData, FileCreateRemoteUploadParamsData, FileMoveParamsData
from frameio.folders import FolderCreateParamsData
from frameio.types import AssetWithIncludes, File, FileUploadStatus, FileWithIncludes, FileWithUploadUrls, Folder
from frameio.version_stacks import VersionStackCreateParamsData

from postflow.core.backoff import Backoff
from postflow.core.config import FrameioConfig
from postflow.core.errors import FailedPrecondition, from_rpc_error
from postflow.core.logs import SecretMask
from postflow.v1 import auth_pb2, auth_pb2_grpc

log = logging.getLogger(__name__)

T = TypeVar("T")
NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}
PAGE_SIZE = 100

# Frame.io's documented per-user limits, (calls, per seconds), by call family.
RATE_LIMITS: Mapping[str, tuple[int, float]] = {
    "upload": (5, 1.0),
    "folder_create": (3, 1.0),
    "show": (10, 1.0),
    "status": (5, 1.0),
    "version_stack": (10, 60.0),
    "list": (100, 60.0),
    "other": (100, 60.0),
}


class FrameioError(Exception):
    """A Frame.io call that did not succeed; the message is readable as it stands."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ReconnectNeeded(FrameioError):
    """The auth service has no usable grant (never connected, or a reconnect is needed)."""


class TransientError(FrameioError):
    """Worth trying again later: 429, 5xx, network trouble, auth service unreachable."""


class RateLimited(TransientError):
    """Frame.io kept answering 429: slow down. Never the file's fault, so no job fails of it."""


class RequestFailed(FrameioError):
    """Frame.io refused the request for good (4xx other than 401/429)."""


class RateLimiter:
    """At most `calls` in any window of `per_s` seconds (Frame.io counts in sliding windows,
    so a token bucket's burst after a pause would overrun it). The window is padded a little
    for the time a request takes to arrive."""

    def __init__(self, calls: int, per_s: float, clock: Callable[[], float] = time.monotonic,
                 margin: float = 0.05) -> None:
        self.calls = calls
        self.window_s = per_s * (1 + margin)
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window_s:
                    self._sent.popleft()
                if len(self._sent) < self.calls:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self._sent[0] + self.window_s - now)


class TokenSource(Protocol):
    async def access_token(self, *, force_refresh: bool = False, rejected_token: str = "") -> str: ...


class AuthTokens:
    """Access tokens from the auth service (`AuthService.GetAccessToken`), never cached here."""

    def __init__(self, stub: auth_pb2_grpc.AuthServiceStub, secrets: SecretMask | None = None,
                 timeout_s: float = 15.0) -> None:
        self._stub = stub
        self._secrets = secrets
        self._timeout_s = timeout_s

    async def access_token(self, *, force_refresh: bool = False, rejected_token: str = "") -> str:
        request = auth_pb2.GetAccessTokenRequest(force_refresh=force_refresh, rejected_token=rejected_token)
        try:
            response = await self._stub.GetAccessToken(request, timeout=self._timeout_s)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            if isinstance(error, FailedPrecondition):
                raise ReconnectNeeded(f"Frame.io reconnect needed: {error}") from None
            raise TransientError(f"auth service: {error}") from None
        if self._secrets is not None:
            self._secrets.add(response.access_token)
        return response.access_token


@dataclass(frozen=True)
class ProjectRef:
    account_id: str
    project_id: str
    root_folder_id: str


def error_detail(exc: ApiError | ParsingError) -> str:
    """The readable part of a Frame.io error body (`errors[0].detail` or `title`)."""
    body = exc.body
    if hasattr(body, "model_dump"):
        body = body.model_dump()
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            return str(errors[0].get("detail") or errors[0].get("title") or "")
        return str(body.get("detail") or body.get("message") or body.get("error") or "")
    return str(body or "")[:200]


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """How long a 429 asks us to wait: `Retry-After` (seconds or a date), else the
    `x-ratelimit-window` (milliseconds), else None."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    value = lowered.get("retry-after")
    if value:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):  # neither seconds nor a date: fall back to the window
            parsed = None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - time.time())
    window = lowered.get("x-ratelimit-window")
    if window and window.isdigit():
        return int(window) / 1000
    return None


class FrameioClient:
    """Frame.io v4 calls with tokens from `tokens`, through the passed-in httpx client."""

    def __init__(self, config: FrameioConfig, tokens: TokenSource, http: httpx.AsyncClient, *,
                 max_retries: int = 5, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0,
                 limits: Mapping[str, tuple[int, float]] = RATE_LIMITS) -> None:
        self.config = config
        self._tokens = tokens
        self._token_var: contextvars.ContextVar[str] = contextvars.ContextVar("frameio_token", default="")
        self.sdk = AsyncFrameio(base_url=config.api_base_url, token=self._token_var.get,
                                async_token=self._current_token, httpx_client=http)
        self._limiters = {family: RateLimiter(*limit) for family, limit in limits.items()}
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._project: ProjectRef | None = None
        self._project_lock = asyncio.Lock()

    async def _current_token(self) -> str:
        return self._token_var.get()

    async def call(self, family: str, fn: Callable[[RequestOptions], Awaitable[T]], *, what: str,
                   idempotent: bool = True) -> T:
        """Runs `fn(request_options)` with a token, the family's rate limit and our retries.

        A call that is not idempotent (it creates something) is retried only after a 429,
        which Frame.io answers before doing anything; other failures surface as
        TransientError so the caller can check what exists before trying again."""
        limiter = self._limiters.get(family, self._limiters["other"])
        token = await self._tokens.access_token()
        refreshed = False
        retries = Backoff(self.backoff_base_s, self.backoff_max_s)
        while True:
            await limiter.acquire()
            self._token_var.set(token)
            try:
                return await fn(NO_SDK_RETRIES)
            except UnauthorizedError:
                if refreshed:
                    raise ReconnectNeeded(f"{what}: Frame.io rejected a freshly refreshed token") from None
                token = await self._tokens.access_token(force_refresh=True, rejected_token=token)
                refreshed = True
                continue
            except TooManyRequestsError as exc:
                rate_limited = True
                backoff_s = retries.failed()
                asked_s = retry_after_s(exc.headers)
                delay = backoff_s if asked_s is None else asked_s
                reason = "rate limited (429)"
            except ApiError as exc:
                status = exc.status_code or 0
                if status < 500:
                    raise RequestFailed(f"{what}: HTTP {status} {error_detail(exc)}".rstrip(), status) from None
                if not idempotent:
                    raise TransientError(f"{what}: HTTP {status} {error_detail(exc)}".rstrip(), status) from None
                rate_limited = False
                delay = retries.failed()
                reason = f"HTTP {status}"
            except ParsingError as exc:
                raise RequestFailed(f"{what}: unexpected response ({exc.status_code})", exc.status_code) from None
            except httpx.TransportError as exc:
                if not idempotent:
                    raise TransientError(f"{what}: {type(exc).__name__} {exc}".rstrip()) from None
                rate_limited = False
                delay = retries.failed()
                reason = type(exc).__name__
            if retries.failures > self.max_retries:
                error = RateLimited if rate_limited else TransientError
                raise error(f"{what}: {reason}, still failing after {retries.failures} tries")
            log.log(logging.DEBUG if rate_limited else logging.WARNING,
                    "Frame.io %s: %s; retrying in %.1fs", what, reason, delay)
            await asyncio.sleep(delay)

    # -- typed calls PostFlow uses ------------------------------------------------------

    async def project(self) -> ProjectRef:
        """The configured account and project, or the first ones visible to the user."""
        async with self._project_lock:
            if self._project is not None:
                return self._project
            account_id = self.config.account_id or await self._first_account()
            project_id = self.config.project_id or await self._first_project(account_id)
            project = await self.call("other", lambda o: self.sdk.projects.show(account_id, project_id,
                                                                                request_options=o),
                                      what="show project")
            self._project = ProjectRef(account_id, project_id, project.data.root_folder_id)
        return self._project

    async def _first_account(self) -> str:
        page = await self.call("list", lambda o: self.sdk.accounts.index(page_size=1, request_options=o),
                               what="list accounts")
        if not page.items:
            raise RequestFailed("no Frame.io account is visible to this user; set frameio.account_id")
        return page.items[0].id

    async def _first_project(self, account_id: str) -> str:
        spaces = await self.call("list", lambda o: self.sdk.workspaces.index(account_id, request_options=o),
                                 what="list workspaces")
        for space in spaces.items or []:
            projects = await self.call("list", partial(self._projects_page, account_id, space.id),
                                       what="list projects")
            if projects.items:
                return projects.items[0].id
        raise RequestFailed("no Frame.io project is visible to this user; set frameio.project_id")

    def _projects_page(self, account_id: str, workspace_id: str, options: RequestOptions) -> Awaitable[Any]:
        return self.sdk.projects.index(account_id, workspace_id, request_options=options)

    async def list_children(self, account_id: str, folder_id: str) -> list[AssetWithIncludes]:
        return await self._every_page("list folder", lambda after, o: self.sdk.folders.index(
            account_id, folder_id, after=after, page_size=PAGE_SIZE, request_options=o))

    async def _every_page(self, what: str, index: Callable[[str | None, RequestOptions], Awaitable[Any]]) -> list[Any]:
        """Every item of a paged listing, one rate-limited call per page (cursor from `links.next`)."""
        items: list[Any] = []
        after: str | None = None
        while True:
            page = await self.call("list", partial(index, after), what=what)
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

    async def list_version_stack(self, account_id: str, stack_id: str) -> list[AssetWithIncludes]:
        return await self._every_page("list version stack", lambda after, o: self.sdk.version_stacks.index(
            account_id, stack_id, after=after, page_size=PAGE_SIZE, request_options=o))

    async def reorder_version_stack(self, account_id: str, stack_id: str, file_id: str) -> None:
        """Puts `file_id` on top of the stack (its newest version): Frame.io's experimental
        `PATCH /v4/accounts/{a}/version_stacks/{id}/versions`, which SDK 4.0.0 does not have."""
        async def reorder(options: RequestOptions) -> None:
            response = await self.sdk._client_wrapper.httpx_client.request(
                f"v4/accounts/{account_id}/version_stacks/{stack_id}/versions", method="PATCH",
                json={"data": {"target_file_id": file_id, "move_to": "top"}}, request_options=options)
            if response.is_success:
                return
            try:
                body = response.json()
            except ValueError:
                body = response.text
            headers = dict(response.headers)
            if response.status_code == 401:
                raise UnauthorizedError(body=body, headers=headers)
            if response.status_code == 429:
                raise TooManyRequestsError(body=body, headers=headers)
            raise ApiError(status_code=response.status_code, headers=headers, body=body)

        await self.call("version_stack", reorder, what="reorder version stack")


def next_cursor(next_link: str | None) -> str | None:
    """The `after` cursor carried by a `links.next` path, if any."""
    if not next_link:
        return None
    values = parse_qs(urlsplit(next_link).query).get("after")
    return values[0] if values else None
