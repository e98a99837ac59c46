"""Frame.io's webhooks in the watcher, put together: the store of registrations and accepted
deliveries, the receiver (ReceiveFrameioWebhook), the dispatcher acting on what it stored, and
the setup (SetupFrameioWebhooks) with the webhooks that follow the tunnel's URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from postflow.core.pipelines import PipelineConfig
from postflow.v1 import streamer_pb2
from services.watcher.delivery.nudges import FileNudges
from services.watcher.review.hook_dispatch import HookDispatcher, ReviewEventHandler
from services.watcher.review.hook_receiver import HookReceiver
from services.watcher.review.hook_setup import HookSetup, ProjectFinder, WebhookCalls
from services.watcher.review.hooks_store import HooksStore
from services.watcher.review.metrics import ReviewMetrics


class FrameioWebhooks:
    def __init__(self, path: Path, *, max_age_s: float, nudges: FileNudges, on_review_event: ReviewEventHandler,
                 webhooks_of: Callable[[str], WebhookCalls], projects_of: Callable[[str], ProjectFinder],
                 pipelines: Callable[[], Iterable[PipelineConfig]], tunnel_url: Callable[[], Awaitable[str]],
                 add_secret: Callable[[str], None], metrics: ReviewMetrics | None = None) -> None:
        self.store = HooksStore(path)
        self.add_secret = add_secret
        self.dispatcher = HookDispatcher(self.store, nudges, on_review_event)
        self.receiver = HookReceiver(self.store, max_age_s, self.dispatcher.wake, metrics=metrics)
        self.setup = HookSetup(self.store, webhooks_of=webhooks_of, projects_of=projects_of, pipelines=pipelines,
                               tunnel_url=tunnel_url, add_secret=add_secret)

    async def open(self) -> None:
        """Opens the store; the secrets in it are masked in logs from now on."""
        await self.store.open()
        for registration in await self.store.registrations():
            self.add_secret(registration.secret)

    async def run(self) -> None:
        await asyncio.gather(self.dispatcher.run(), self.setup.follow_tunnel())

    def tunnel_status(self, status: streamer_pb2.TunnelStatus) -> None:
        self.setup.tunnel_status(status.public_url)

    async def close(self) -> None:
        await self.store.close()
