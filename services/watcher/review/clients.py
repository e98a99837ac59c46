"""The Frame.io side of the review loop, per connection: its FrameioClient, the review calls
over it, and the account a delivered job's file lives in."""

from __future__ import annotations

from postflow.frameio import FrameioClient, ProjectRef
from postflow.frameio_review import FrameioReview
from services.watcher.connections import FrameioConnections
from services.watcher.jobs import Job


class ReviewClients:
    def __init__(self, connections: FrameioConnections) -> None:
        self.connections = connections
        self._reviews: dict[str, FrameioReview] = {}  # by connection

    def client(self, connection: str) -> FrameioClient:
        return self.connections.get(connection).frameio

    def review(self, connection: str) -> FrameioReview:
        """The connection's review calls (a client rebuilt at a reload gets new ones)."""
        client = self.client(connection)
        review = self._reviews.get(connection)
        if review is None or review.client is not client:
            review = self._reviews[connection] = FrameioReview(client)
        return review

    async def project_of(self, job: Job) -> ProjectRef:
        """The project the job delivered into, with its account (known to the connection once resolved)."""
        destination = await self.connections.destination(job.connection, job.project, create=False)
        return destination.project

    async def account_of(self, job: Job) -> str:
        return (await self.project_of(job)).account_id
