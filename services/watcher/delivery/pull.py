"""Pull: the streamer publishes the file at an expiring URL behind its tunnel, and Frame.io
fetches it (`remote_upload`). When Frame.io cannot read the URL, the tunnel may be to blame
(it died, moved, or came up a moment ago): then the pull is re-issued at no attempt's cost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import grpc

from postflow.core.errors import NotFound, from_rpc_error
from postflow.core.pubsub import Subscription
from postflow.core.telemetry import current_trace_context
from postflow.frameio import FrameioClient, RequestFailed
from postflow.v1 import streamer_pb2, streamer_pb2_grpc
from services.watcher import jobs
from services.watcher.delivery.errors import Reissue, RetryLater, streamer_error
from services.watcher.delivery.record import JobRecord
from services.watcher.followers import PullEvent, StreamerWatch

log = logging.getLogger(__name__)

TUNNEL_UP = streamer_pb2.TUNNEL_STATE_UP
TUNNEL_SETTLE_S = 5.0  # a quick tunnel's new hostname may not be routable for a moment
# How Frame.io refuses a source it could not read is undocumented (its guide calls 422
# "largely interchangeable with 400"): both are taken for an unreachable URL, retried.
REFUSED_SOURCE = frozenset({400, 422})


def published_under(url: str, base: str) -> bool:
    """Whether a publication URL lives under the tunnel's public base URL."""
    return bool(base) and url.startswith(base.rstrip("/") + "/")


async def revoke(streamer: streamer_pb2_grpc.StreamerServiceStub, ticket_id: str) -> None:
    """Ends a publication (if there is one); a streamer that cannot be told is only logged."""
    if not ticket_id:
        return
    try:
        await streamer.Revoke(streamer_pb2.RevokeRequest(ticket_id=ticket_id), timeout=10)
    except grpc.RpcError as exc:
        log.info("could not revoke the publication: %s", from_rpc_error(exc))


class Pull:
    def __init__(self, record: JobRecord, streamer: streamer_pb2_grpc.StreamerServiceStub, tunnel: StreamerWatch,
                 frameio: FrameioClient, account_id: str) -> None:
        self.record = record
        self.streamer = streamer
        self.tunnel = tunnel
        self.frameio = frameio
        self.account_id = account_id

    def events(self) -> contextlib.AbstractContextManager[Subscription[PullEvent]]:
        """The streamer's progress of this job's pulls, and TUNNEL_CHANGED, as they come."""
        return self.tunnel.subscribe(self.record.job.id)

    async def up_tunnel(self, fresh: bool = False) -> streamer_pb2.TunnelStatus | None:
        """The tunnel's status while it is up, else None."""
        tunnel = await self.tunnel.tunnel_status(fresh=fresh)
        return tunnel if tunnel is not None and tunnel.state == TUNNEL_UP else None

    async def public_base(self, fresh: bool = False) -> str:
        """The tunnel's public URL while it is up, else ""."""
        tunnel = await self.up_tunnel(fresh)
        return tunnel.public_url if tunnel is not None else ""

    async def alive(self) -> bool:
        """Whether the job's publication still serves Frame.io (not revoked, not expired,
        under the tunnel's current URL)."""
        job = self.record.job
        if not job.ticket_id:
            return False
        base = await self.public_base()
        if base and not published_under(job.source_url, base):
            return False
        try:
            publication = await self.streamer.GetPublication(
                streamer_pb2.GetPublicationRequest(ticket_id=job.ticket_id), timeout=10)
        except grpc.RpcError as exc:
            if isinstance(from_rpc_error(exc), NotFound):
                return False
            raise RetryLater(f"streamer: {from_rpc_error(exc)}") from None
        return not publication.revoked and publication.expires_at.ToSeconds() > time.time()

    async def start(self) -> None:
        """Publishes the file and asks Frame.io to fetch it. A RequestFailed raised means
        Frame.io refused to create the file."""
        job = self.record.job
        try:
            publication = await self.streamer.Publish(streamer_pb2.PublishRequest(
                pipeline=job.pipeline, path=job.path, size=job.size, mtime_ns=job.mtime_ns, job_id=job.id,
                trace_context=current_trace_context()), timeout=30)
        except grpc.RpcError as exc:
            raise streamer_error(exc, "publish") from None
        await self.record.apply(jobs.published, publication.ticket_id, publication.url, time.time())
        if not publication.url:
            await self.forget()
            raise RetryLater("the streamer has no public URL yet")
        try:
            file = await self.frameio.create_remote_upload(self.account_id, job.folder_id, job.name, publication.url)
        except RequestFailed as exc:
            await self.forget()  # refused: Frame.io created nothing to look for
            if exc.status not in REFUSED_SOURCE:
                raise
            # Frame.io reads the URL before answering: an unreachable tunnel lands here.
            await self.blame_the_tunnel(publication.url)
            raise RetryLater(f"Frame.io could not read the published URL ({exc})") from None
        await self.record.apply(jobs.upload_started, file.id)
        log.info("upload started: Frame.io pulls %s (%d bytes)", job.path, job.size)

    async def blame_the_tunnel(self, url: str) -> None:
        """Frame.io could not read `url`. Raises Reissue (no attempt spent) when the tunnel is
        at fault: it died or moved meanwhile, or it came up so recently that the edge may not
        route its new hostname yet (then after giving it that moment). Returns otherwise."""
        tunnel = await self.up_tunnel(fresh=True)
        if tunnel is None or not published_under(url, tunnel.public_url):
            raise Reissue()
        settling = TUNNEL_SETTLE_S - (time.time() - tunnel.since.ToMicroseconds() / 1e6)
        if settling > 0:
            log.info("the tunnel came up %.1fs ago; giving the edge a moment", TUNNEL_SETTLE_S - settling)
            await asyncio.sleep(settling)
            raise Reissue()

    async def revoke(self) -> None:
        await revoke(self.streamer, self.record.job.ticket_id)

    async def forget(self) -> None:
        """Revokes a publication that no Frame.io file was made from, and forgets it."""
        await self.revoke()
        await self.record.apply(jobs.discard_upload)
