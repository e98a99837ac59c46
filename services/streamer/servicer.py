"""StreamerService gRPC handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import grpc
import httpx

from postflow.core.errors import InvalidArgument, Unavailable
from postflow.core.logs import job_id_var
from postflow.core.protos import timestamp
from postflow.v1 import streamer_pb2, streamer_pb2_grpc
from services.streamer.events import EventHub
from services.streamer.file_reader import ReaderPool
from services.streamer.pacer import Pacer
from services.streamer.progress import PullProgress
from services.streamer.publications import Publication, PublicationStore
from services.streamer.push import Push, PushSettings
from services.streamer.push_parts import read_header
from services.streamer.roots import Roots
from services.streamer.tunnel import TunnelManager

log = logging.getLogger(__name__)

MAX_PUSH_CONCURRENCY = 64


@dataclass(kw_only=True)
class StreamerServicer(streamer_pb2_grpc.StreamerServiceServicer):
    roots: Roots
    publications: PublicationStore
    progress: PullProgress
    tunnel: TunnelManager
    hub: EventHub
    http: httpx.AsyncClient
    push_settings: PushSettings
    reader: ReaderPool
    pacer: Pacer  # the bandwidth limit pushes share with the Range server

    async def Publish(self, request: streamer_pb2.PublishRequest,
                      context: grpc.aio.ServicerContext) -> streamer_pb2.Publication:
        job_id_var.set(request.job_id)
        if not self.tunnel.public_url:
            raise Unavailable("tunnel not up yet")
        publication, _ = await self.publications.publish(request.pipeline, request.path, request.size,
                                                         request.mtime_ns, request.ttl_s, request.job_id,
                                                         request.trace_context)
        log.debug("published %s as ticket %s", publication.path, publication.ticket_id)
        return self._message(publication)

    async def Revoke(self, request: streamer_pb2.RevokeRequest,
                     context: grpc.aio.ServicerContext) -> streamer_pb2.RevokeResponse:
        publication = self.publications.revoke(request.ticket_id)
        job_id_var.set(publication.job_id)
        log.debug("revoked ticket %s", publication.ticket_id)
        return streamer_pb2.RevokeResponse(revoked=True)

    async def GetPublication(self, request: streamer_pb2.GetPublicationRequest,
                             context: grpc.aio.ServicerContext) -> streamer_pb2.Publication:
        return self._message(self.publications.get(request.ticket_id))

    async def GetTunnelStatus(self, request: streamer_pb2.GetTunnelStatusRequest,
                              context: grpc.aio.ServicerContext) -> streamer_pb2.TunnelStatus:
        return self.pacer.stamp(self.tunnel.status)

    async def WatchEvents(self, request: streamer_pb2.WatchStreamerEventsRequest,
                          context: grpc.aio.ServicerContext) -> AsyncIterator[streamer_pb2.StreamerEvent]:
        with self.hub.subscribe() as events:
            yield self.hub.event(tunnel=self.pacer.stamp(self.tunnel.status))
            async for event in events:
                yield event

    async def Push(self, requests: AsyncIterator[streamer_pb2.PushRequest],
                   context: grpc.aio.ServicerContext) -> AsyncIterator[streamer_pb2.TransferProgress]:
        header = await read_header(requests)
        job_id_var.set(header.job_id)
        concurrency = header.concurrency or self.push_settings.concurrency
        if not 1 <= concurrency <= MAX_PUSH_CONCURRENCY:
            raise InvalidArgument(f"header.concurrency: expected 1 to {MAX_PUSH_CONCURRENCY}, got {concurrency}")
        settings = replace(self.push_settings, concurrency=concurrency)
        _, root = self.roots.named(header.pipeline, "header.pipeline")
        push = Push(header, requests, root, self.http, settings, self.reader, self.pacer)
        async for progress in push.run():
            yield progress  # to the caller only: WatchEvents carries pulls, which have no caller

    def _message(self, publication: Publication) -> streamer_pb2.Publication:
        token = self.publications.token(publication.ticket_id)
        base = self.tunnel.public_url
        return streamer_pb2.Publication(
            ticket_id=publication.ticket_id, url=f"{base}/t/{token}" if token and base else "",
            pipeline=publication.pipeline, path=publication.path, size=publication.size,
            mtime_ns=publication.mtime_ns, job_id=publication.job_id,
            expires_at=timestamp(publication.expires_at), revoked=publication.revoked_at is not None,
            bytes_covered=self.progress.covered(publication.ticket_id),
        )
