"""`SetupFrameioWebhooks`: PostFlow's webhook in each Frame.io workspace its pipelines deliver
into (workspace webhooks cover every project of the workspace), registered by an account
admin's login. Per workspace: kept when Frame.io still has it as PostFlow left it, updated
(PATCH) when its URL or events changed, else registered anew under a new random key, its
secret kept (Frame.io shows it once). A webhook registered with the tunnel's URL follows the
tunnel: when its URL changes, so do the webhooks'."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from frameio.types import Webhook

from postflow.core.backoff import Backoff
from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from postflow.core.pipelines import PipelineConfig, template_fields
from postflow.frameio import FrameioError, ProjectRef
from postflow.frameio_review import HOOKS_PREFIX, WEBHOOK_EVENTS
from postflow.v1 import watcher_pb2
from services.watcher.review.hooks_store import HooksStore, Registration

log = logging.getLogger(__name__)

WEBHOOK_NAME = "PostFlow"


class WebhookCalls(Protocol):
    """The webhook calls of FrameioReview that setting up needs."""

    async def list_webhooks(self, account_id: str, workspace_id: str) -> list: ...

    async def create_webhook(self, account_id: str, workspace_id: str, name: str,
                             url: str) -> tuple[Webhook, str]: ...

    async def update_webhook(self, account_id: str, webhook_id: str, *, url: str | None = None,
                             events: tuple[str, ...] | None = None) -> Webhook: ...


class ProjectFinder(Protocol):
    async def resolve(self, project: str, *, create: bool) -> ProjectRef: ...


@dataclass(frozen=True)
class Workspace:
    connection: str
    account_id: str
    workspace_id: str
    workspace_name: str


def hook_url(base: str, hook: str) -> str:
    return f"{base}{HOOKS_PREFIX}{hook}"


class HookSetup:
    def __init__(self, store: HooksStore, *, webhooks_of: Callable[[str], WebhookCalls],
                 projects_of: Callable[[str], ProjectFinder], pipelines: Callable[[], Iterable[PipelineConfig]],
                 tunnel_url: Callable[[], Awaitable[str]], add_secret: Callable[[str], None]) -> None:
        self.store = store
        self.webhooks_of = webhooks_of  # a connection's Frame.io webhook calls, by its name
        self.projects_of = projects_of
        self.pipelines = pipelines  # as configured now
        self.tunnel_url = tunnel_url  # the streamer's public URL now ("" when it has none)
        self.add_secret = add_secret
        self._tunnel = ""
        self._tunnel_moved = asyncio.Event()

    async def setup(self, request: watcher_pb2.SetupFrameioWebhooksRequest) -> watcher_pb2.SetupFrameioWebhooksResponse:
        base = request.public_url.rstrip("/")
        follows_tunnel = not base
        if follows_tunnel:
            base = (await self.tunnel_url()).rstrip("/")
            if not base:
                raise InvalidArgument("public_url: the streamer has no public URL (no tunnel up, no "
                                      "streamer.tunnel.public_base_url); give the one Frame.io reaches it at with "
                                      "--public-url")
        if not base.startswith(("https://", "http://")):
            raise InvalidArgument(f"public_url: {base!r} is not an http(s) URL (--public-url)")
        answer = watcher_pb2.SetupFrameioWebhooksResponse()
        for workspace in await self._workspaces(request.connection):
            try:
                answer.registrations.append(await self._one(workspace, base, follows_tunnel, request.dry_run))
            except FrameioError as exc:
                if exc.status == 403:
                    raise PermissionDenied(
                        f"connection {workspace.connection!r}: only an account admin can register webhooks; log in "
                        "that connection as an admin") from None
                raise FailedPrecondition(f"connection {workspace.connection!r}, workspace "
                                         f"{workspace.workspace_name!r}: {exc}") from None
        return answer

    async def _workspaces(self, connection: str) -> list[Workspace]:
        """The workspaces of the projects the pipelines (of `connection`, "" = all) name outright."""
        wanted: dict[str, set[str]] = {}
        for pipeline in self.pipelines():
            if connection and pipeline.connection != connection:
                continue
            projects = [pipeline.project, *(rule.project for rule in pipeline.rules if rule.project is not None)]
            wanted.setdefault(pipeline.connection, set()).update(
                project for project in projects if not template_fields(project))
        if connection and connection not in wanted:
            raise NotFound(f"connection: no pipeline delivers with connection {connection!r}")
        found: dict[tuple[str, str, str], Workspace] = {}
        for name, names in sorted(wanted.items()):
            for project in sorted(names):
                try:
                    ref = await self.projects_of(name).resolve(project, create=False)
                except FrameioError as exc:
                    raise FailedPrecondition(
                        f"connection {name!r}, project {project or '(default)'!r}: {exc}") from None
                key = (name, ref.account_id, ref.workspace_id)
                found.setdefault(key, Workspace(name, ref.account_id, ref.workspace_id,
                                                ref.workspace_name or ref.workspace_id))
        return list(found.values())

    async def _one(self, workspace: Workspace, base: str, follows_tunnel: bool,
                   dry_run: bool) -> watcher_pb2.FrameioWebhookRegistration:
        webhooks = self.webhooks_of(workspace.connection)
        existing = await self.store.registration_for(workspace.connection, workspace.account_id,
                                                     workspace.workspace_id)
        if existing is not None:
            listed = await webhooks.list_webhooks(workspace.account_id, workspace.workspace_id)
            found = next((webhook for webhook in listed if webhook.id == existing.webhook_id), None)
            if found is not None:
                url = hook_url(base, existing.hook)
                if found.url == url and set(found.events) == set(WEBHOOK_EVENTS):
                    outcome = "kept"
                elif dry_run:
                    outcome = "would update"
                else:
                    await webhooks.update_webhook(workspace.account_id, existing.webhook_id, url=url,
                                                  events=WEBHOOK_EVENTS)
                    outcome = "updated"
                if not dry_run:
                    await self.store.changed(existing.hook, url, WEBHOOK_EVENTS, follows_tunnel)
                return _message(workspace, existing.webhook_id, url, outcome)
        hook = secrets.token_urlsafe(24)
        url = hook_url(base, hook)
        if dry_run:
            return _message(workspace, "", url, "would register")
        created, secret = await webhooks.create_webhook(workspace.account_id, workspace.workspace_id, WEBHOOK_NAME,
                                                        url)
        self.add_secret(secret)
        await self.store.register(Registration(
            hook, workspace.connection, workspace.account_id, workspace.workspace_id, workspace.workspace_name,
            created.id, url, WEBHOOK_EVENTS, secret, follows_tunnel, time.time()))
        log.info("registered PostFlow's Frame.io webhook %s in workspace %r (connection %s)", created.id,
                 workspace.workspace_name, workspace.connection)
        return _message(workspace, created.id, url, "registered")

    # -- webhooks that follow the tunnel -------------------------------------------------------

    def tunnel_status(self, public_url: str) -> None:
        """The streamer's tunnel said its URL ("" while down: nothing to change then)."""
        if public_url and public_url != self._tunnel:
            self._tunnel = public_url
            self._tunnel_moved.set()

    async def follow_tunnel(self) -> None:
        """Moves the webhooks registered with the tunnel's URL to its new one, retrying with
        backoff until done or the tunnel moves again."""
        backoff = Backoff(5.0, 300.0)
        while True:
            await self._tunnel_moved.wait()
            self._tunnel_moved.clear()
            base = self._tunnel.rstrip("/")
            try:
                await self._retarget(base)
                backoff.succeeded()
            except Exception as exc:  # Frame.io or the store: try again; polling covers the gap
                delay = backoff.failed()
                log.warning("could not move Frame.io webhooks to the tunnel's new URL (trying again in %.0fs): %s",
                            delay, exc)
                try:
                    await asyncio.wait_for(self._tunnel_moved.wait(), delay)
                except TimeoutError:
                    self._tunnel_moved.set()

    async def _retarget(self, base: str) -> None:
        for registration in await self.store.registrations():
            url = hook_url(base, registration.hook)
            if not registration.follows_tunnel or registration.url == url:
                continue
            await self.webhooks_of(registration.connection).update_webhook(
                registration.account_id, registration.webhook_id, url=url)
            await self.store.changed(registration.hook, url, registration.events, True)
            log.info("Frame.io webhook %s of workspace %r now posts to the tunnel's new URL", registration.webhook_id,
                     registration.workspace_name)


def _message(workspace: Workspace, webhook_id: str, url: str, outcome: str) -> watcher_pb2.FrameioWebhookRegistration:
    return watcher_pb2.FrameioWebhookRegistration(
        connection=workspace.connection, account_id=workspace.account_id, workspace_id=workspace.workspace_id,
        workspace_name=workspace.workspace_name, webhook_id=webhook_id, url=url, events=list(WEBHOOK_EVENTS),
        outcome=outcome)
