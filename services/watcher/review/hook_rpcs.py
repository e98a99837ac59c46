"""The job API's calls for Frame.io's webhooks: a delivery from the streamer's public server
(the streamer only) and registering PostFlow's webhooks (admin only), by postflow.core.mesh.policy."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from postflow.v1 import watcher_pb2
from services.watcher.review.hooks import FrameioWebhooks

Context: TypeAlias = grpc.aio.ServicerContext


class HookCalls:
    frameio_webhooks: FrameioWebhooks

    async def ReceiveFrameioWebhook(self, request: watcher_pb2.FrameioWebhookDelivery,
                                    context: Context) -> watcher_pb2.FrameioWebhookReceipt:
        return await self.frameio_webhooks.receiver.receive(request)

    async def SetupFrameioWebhooks(self, request: watcher_pb2.SetupFrameioWebhooksRequest,
                                   context: Context) -> watcher_pb2.SetupFrameioWebhooksResponse:
        return await self.frameio_webhooks.setup.setup(request)
