"""The job API's outbound calls (admin only, by postflow.core.mesh.policy): the delivery log
of webhooks and notifications, and replaying one of its entries."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from postflow.core.errors import InvalidArgument
from postflow.core.protos import timestamp
from postflow.v1 import watcher_pb2
from services.watcher.outbound.dispatcher import Outbound
from services.watcher.outbound.outbox import PENDING, Entry

Context: TypeAlias = grpc.aio.ServicerContext
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def delivery_proto(entry: Entry, status: str) -> watcher_pb2.Delivery:
    return watcher_pb2.Delivery(
        id=entry.id, kind=entry.kind, target=entry.label, event=entry.event, status=status,
        idempotency_key=entry.key, attempts=entry.attempts, last_error=entry.last_error,
        created_at=timestamp(entry.created_at),
        next_attempt_at=timestamp(entry.next_at) if entry.status == PENDING else None,
        sent_at=None if entry.sent_at is None else timestamp(entry.sent_at),
        job_id=entry.job_id, path=entry.path, pipeline=entry.pipeline)


class OutboundCalls:
    outbound: Outbound

    async def ListDeliveries(self, request: watcher_pb2.ListDeliveriesRequest,
                             context: Context) -> watcher_pb2.ListDeliveriesResponse:
        if request.limit < 0:
            raise InvalidArgument("limit: must not be negative")
        entries = await self.outbound.outbox.recent(min(request.limit or DEFAULT_LIMIT, MAX_LIMIT))
        return watcher_pb2.ListDeliveriesResponse(
            deliveries=[delivery_proto(entry, self.outbound.status_of(entry)) for entry in entries])

    async def ReplayDelivery(self, request: watcher_pb2.ReplayDeliveryRequest,
                             context: Context) -> watcher_pb2.Delivery:
        if request.id <= 0:
            raise InvalidArgument("id: required (a delivery's number, from the log)")
        entry = await self.outbound.replay(request.id)
        return delivery_proto(entry, self.outbound.status_of(entry))
