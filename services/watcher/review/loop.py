"""The review loop put together for the watcher: Frame.io's webhooks in (FrameioWebhooks),
the comments and review status of delivered files followed (Reviews), approvals acted on
(Approvals), and the marker files beside the sources kept up to date. Each has its own
SQLite store under `<state_dir>/watcher/`; all count into one ReviewMetrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

from postflow.core.config import Config
from postflow.core.pipelines import PipelineConfig
from postflow.frameio_review import FrameioReview
from postflow.markers.files import write_marker_files
from postflow.v1 import streamer_pb2
from services.watcher.after_delivery import NotDelivered
from services.watcher.connections import FrameioConnections
from services.watcher.delivery.nudges import FileNudges
from services.watcher.jobs import Job
from services.watcher.ledger import Ledger
from services.watcher.outbound.dispatcher import Outbound
from services.watcher.pipelines import Pipelines
from services.watcher.review.approvals import Approvals, ApprovalStore
from services.watcher.review.approved_copy import approved_master
from services.watcher.review.clients import ReviewClients
from services.watcher.review.hooks import FrameioWebhooks
from services.watcher.review.metrics import ReviewMetrics
from services.watcher.review.reviews import Reviews
from services.watcher.review.rpcs import review_of
from services.watcher.review.store import ReviewStore
from services.watcher.review.timing import media_timing

log = logging.getLogger(__name__)


class ReviewLoop:
    def __init__(self, config: Config, ledger: Ledger, outbound: Outbound, nudges: FileNudges,
                 add_secret: Callable[[str], None], metrics: ReviewMetrics) -> None:
        folder = config.state_path / "watcher"
        self.config = config
        self.ledger = ledger
        self.outbound = outbound
        self.nudges = nudges
        self.add_secret = add_secret
        self.metrics = metrics
        self.review_store = ReviewStore(folder / "review.sqlite")
        self.approval_store = ApprovalStore(folder / "approvals.sqlite")
        self.hooks_path = folder / "frameio_hooks.sqlite"
        self.pipelines: Pipelines | None = None
        self._reviews: Reviews | None = None
        self._approvals: Approvals | None = None
        self._webhooks: FrameioWebhooks | None = None

    @property
    def reviews(self) -> Reviews:
        assert self._reviews is not None, "the review loop is not open"
        return self._reviews

    @property
    def webhooks(self) -> FrameioWebhooks:
        assert self._webhooks is not None, "the review loop is not open"
        return self._webhooks

    async def open(self, connections: FrameioConnections, pipelines: Pipelines,
                   pipelines_now: Callable[[], Iterable[PipelineConfig]],
                   tunnel_url: Callable[[], Awaitable[str]]) -> None:
        """`pipelines_now`: the pipelines as configured now; `tunnel_url`: the streamer's public URL."""
        self.pipelines = pipelines
        clients = ReviewClients(connections)
        self._approvals = approvals = Approvals(self.approval_store, self.outbound.enqueue, pipelines.running,
                                               self.config, metrics=self.metrics)
        self._reviews = reviews = Reviews(
            self.review_store, self.ledger, clients, self.outbound, self.config, on_status=approvals.status_seen,
            on_comments_changed=self.write_markers, timing_of=media_timing(clients, self.source_of),
            metrics=self.metrics)
        self._webhooks = FrameioWebhooks(
            self.hooks_path, max_age_s=self.config.review.webhook_max_age_s, nudges=self.nudges,
            on_review_event=reviews.on_review_event,
            webhooks_of=lambda name: FrameioReview(connections.get(name).frameio),
            projects_of=lambda name: connections.get(name).projects, pipelines=pipelines_now, tunnel_url=tunnel_url,
            add_secret=self.add_secret, metrics=self.metrics)
        await self.approval_store.open()
        await self.review_store.open()
        await self._webhooks.open()

    def tasks(self) -> dict[str, Coroutine[Any, Any, None]]:
        assert self._approvals is not None
        return {"approvals": self._approvals.run(), "reviews": self.reviews.run(),
                "frameio-webhooks": self.webhooks.run()}

    def delivered(self) -> None:
        """A job just became done: follow it at once."""
        self.reviews.wake()

    def tunnel_status(self, status: streamer_pb2.TunnelStatus) -> None:
        if self._webhooks is not None:
            self._webhooks.tunnel_status(status)

    def apply(self, config: Config) -> None:
        """The config as reloaded."""
        self.config = config
        if self._reviews is not None and self._approvals is not None:
            self._reviews.config = self._approvals.config = config

    async def source_of(self, job: Job) -> Path | None:
        """The job's delivered file where it is now (moved into the done_dir, maybe); None when its
        pipeline is not running, or the file is gone or changed since."""
        routes = self.pipelines.running(job.pipeline) if self.pipelines is not None else None
        if routes is None:
            return None
        try:
            return await asyncio.to_thread(approved_master, routes.root, routes.config.done_folder, job)
        except (NotDelivered, OSError):
            return None

    async def write_markers(self, job: Job) -> None:
        """The pipeline's marker files beside the job's source, as its comments are now."""
        formats = self.reviews.actions(job.pipeline).markers
        if not formats:
            return
        source = await self.source_of(job)
        if source is None:
            log.info("markers of %s not written: the delivered file is not in its root as delivered", job.path)
            return
        review = await review_of(self.reviews, job, await self.review_store.file(job.file_id))
        for written in await write_marker_files(source, formats, review):
            log.info("markers: wrote %s", written)

    async def close(self) -> None:
        if self._webhooks is not None:
            await self._webhooks.close()
        await self.review_store.close()
        await self.approval_store.close()
