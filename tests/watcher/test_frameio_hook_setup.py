"""SetupFrameioWebhooks against a small fake of Frame.io's webhook calls: one webhook per
workspace of the pipelines' projects (by id or name), registered with its secret kept;
kept when unchanged, updated when the URL moved, registered again when deleted on Frame.io;
a dry run changes nothing; 403 names the admin; no public URL names --public-url; webhooks
registered with the tunnel's URL follow it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import pytest_asyncio

from postflow.core.errors import InvalidArgument, NotFound, PermissionDenied
from postflow.core.pipelines import PipelineConfig, RuleConfig
from postflow.frameio import ProjectRef, RequestFailed
from postflow.frameio_review import WEBHOOK_EVENTS
from postflow.testing.polling import wait_for
from postflow.v1 import watcher_pb2
from services.watcher.review.hook_setup import HookSetup
from services.watcher.review.hooks_store import HooksStore

PROJECTS = {  # project (id or name) -> account, workspace
    "Commercial": ProjectRef("acc1", "p1", "r1", workspace_id="ws1", workspace_name="Studio"),
    "0b5e8a3c-1111-4222-8333-944445555666": ProjectRef("acc1", "p2", "r2", workspace_id="ws1",
                                                       workspace_name="Studio"),
    "Feature": ProjectRef("acc1", "p3", "r3", workspace_id="ws2", workspace_name="Features"),
}


@dataclass
class FakeWebhooks:
    """FrameioReview's webhook calls on a dict of webhooks."""

    hooks: dict[str, SimpleNamespace] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    forbidden: bool = False
    calls: list[str] = field(default_factory=list)

    def _check(self, what: str) -> None:
        self.calls.append(what)
        if self.forbidden:
            raise RequestFailed("create webhook: HTTP 403 forbidden", 403)

    async def list_webhooks(self, account_id, workspace_id):
        self._check("list")
        return [hook for hook in self.hooks.values() if hook.workspace_id == workspace_id]

    async def create_webhook(self, account_id, workspace_id, name, url):
        self._check("create")
        webhook_id = f"wh{len(self.secrets) + 1}"
        secret = f"secret-{webhook_id}-0123456789"
        self.secrets.append(secret)
        self.hooks[webhook_id] = SimpleNamespace(id=webhook_id, name=name, url=url, events=list(WEBHOOK_EVENTS),
                                                 workspace_id=workspace_id)
        return self.hooks[webhook_id], secret

    async def update_webhook(self, account_id, webhook_id, *, url=None, events=None):
        self._check("update")
        hook = self.hooks[webhook_id]
        hook.url = url or hook.url
        hook.events = list(events) if events is not None else hook.events
        return hook


class FakeProjects:
    async def resolve(self, project: str, *, create: bool) -> ProjectRef:
        return PROJECTS[project]


PIPELINES = (
    PipelineConfig(name="ads", root="/media/ads", project="Commercial",
                   rules=(RuleConfig(match=r"(?P<show>[^/]+)/.*", project="{show}"),
                          RuleConfig(match=r"B/.*", project="0b5e8a3c-1111-4222-8333-944445555666"))),
    PipelineConfig(name="film", root="/media/film", project="Feature", connection="studio"),
)


@pytest_asyncio.fixture
async def store(tmp_path):
    store = HooksStore(tmp_path / "frameio_hooks.sqlite")
    await store.open()
    yield store
    await store.close()


class Setting:
    def __init__(self, store: HooksStore, tunnel: str = "https://tunnel.example") -> None:
        self.store = store
        self.frameio = FakeWebhooks()
        self.tunnel = tunnel
        self.masked: list[str] = []
        self.setup = HookSetup(store, webhooks_of=lambda name: self.frameio, projects_of=lambda name: FakeProjects(),
                               pipelines=lambda: PIPELINES, tunnel_url=self.tunnel_url, add_secret=self.masked.append)

    async def tunnel_url(self) -> str:
        return self.tunnel

    async def run(self, **fields) -> list[tuple[str, str, str, str]]:
        answer = await self.setup.setup(watcher_pb2.SetupFrameioWebhooksRequest(**fields))
        return [(r.connection, r.workspace_name, r.outcome, r.url) for r in answer.registrations]


@pytest.mark.asyncio
async def test_one_webhook_per_workspace_with_its_secret_kept(store):
    setting = Setting(store)
    done = await setting.run(public_url="https://hooks.example/")
    assert [(c, w, o) for c, w, o, _ in done] == [("default", "Studio", "registered"),
                                                  ("studio", "Features", "registered")]
    registrations = await store.registrations()
    assert [r.secret for r in registrations] == setting.frameio.secrets == setting.masked
    for registration, (_, _, _, url) in zip(registrations, done, strict=True):
        assert url == f"https://hooks.example/hooks/frameio/{registration.hook}" == registration.url
        assert len(registration.hook) >= 16 and not registration.follows_tunnel
        assert registration.events == WEBHOOK_EVENTS
    assert {hook.url for hook in setting.frameio.hooks.values()} == {r.url for r in registrations}

    again = await setting.run(public_url="https://hooks.example")
    assert [o for _, _, o, _ in again] == ["kept", "kept"] and len(setting.frameio.hooks) == 2


@pytest.mark.asyncio
async def test_a_moved_url_is_updated_and_a_deleted_webhook_registered_again(store):
    setting = Setting(store)
    await setting.run(connection="default", public_url="https://old.example")
    (before,) = await store.registrations()
    planned = await setting.run(connection="default", public_url="https://new.example", dry_run=True)
    assert [o for _, _, o, _ in planned] == ["would update"]
    assert setting.frameio.hooks[before.webhook_id].url.startswith("https://old.example/")
    moved = await setting.run(connection="default", public_url="https://new.example")
    assert moved == [("default", "Studio", "updated", f"https://new.example/hooks/frameio/{before.hook}")]
    assert setting.frameio.hooks[before.webhook_id].url == moved[0][3]
    assert (await store.registration(before.hook)).url == moved[0][3]

    del setting.frameio.hooks[before.webhook_id]  # someone deleted it on Frame.io
    (again,) = await setting.run(connection="default", public_url="https://new.example")
    assert again[2] == "registered"
    (after,) = await store.registrations()
    assert after.hook != before.hook and after.webhook_id != before.webhook_id


@pytest.mark.asyncio
async def test_a_dry_run_changes_nothing(store):
    setting = Setting(store)
    planned = await setting.run(dry_run=True)
    assert [(w, o) for _, w, o, _ in planned] == [("Studio", "would register"), ("Features", "would register")]
    assert all(url.startswith("https://tunnel.example/hooks/frameio/") for *_, url in planned)
    assert await store.registrations() == [] and setting.frameio.hooks == {}


@pytest.mark.asyncio
async def test_refusals_name_what_to_do(store):
    setting = Setting(store, tunnel="")
    with pytest.raises(InvalidArgument, match="--public-url"):
        await setting.run()
    with pytest.raises(InvalidArgument, match="not an http"):
        await setting.run(public_url="hooks.example")
    with pytest.raises(NotFound, match="no pipeline delivers with connection 'nope'"):
        await setting.run(connection="nope", public_url="https://hooks.example")
    setting.frameio.forbidden = True
    with pytest.raises(PermissionDenied, match="connection 'default': only an account admin can register webhooks; "
                                               "log in that connection as an admin"):
        await setting.run(public_url="https://hooks.example")
    assert await store.registrations() == []


@pytest.mark.asyncio
async def test_webhooks_on_the_tunnel_follow_it(store):
    setting = Setting(store)
    await setting.run(connection="default")  # the tunnel's URL
    await setting.run(connection="studio", public_url="https://fixed.example")
    follower = asyncio.create_task(setting.setup.follow_tunnel())
    try:
        setting.setup.tunnel_status("https://tunnel.example")  # the URL it had: nothing to change
        setting.setup.tunnel_status("https://moved.example")
        tunnel_hook, fixed = await store.registrations()

        async def moved() -> bool:
            return (await store.registration(tunnel_hook.hook)).url.startswith("https://moved.example/")

        await wait_for(moved, message="the tunnel's webhook moved")
        assert setting.frameio.hooks[tunnel_hook.webhook_id].url.startswith("https://moved.example/hooks/frameio/")
        assert (await store.registration(fixed.hook)).url == fixed.url
        assert setting.frameio.hooks[fixed.webhook_id].url.startswith("https://fixed.example/")
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
