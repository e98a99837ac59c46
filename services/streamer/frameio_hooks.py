"""`POST /hooks/frameio/<hook>`: Frame.io's webhook deliveries, the one request with a body
the public server takes. The streamer checks nothing but the shape (a hook key, a bounded
body of a declared length, read in time) and hands the delivery to the watcher, which checks
the signature, keeps it and answers at once; its answer becomes the HTTP status. Frame.io
gives up on an answer after 5 s and tries again later, so the watcher has ~4 s: one that
does not answer by then gets a 503, which Frame.io retries too."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import grpc

from postflow.frameio_review import HOOKS_PREFIX
from postflow.v1 import watcher_pb2, watcher_pb2_grpc
from services.streamer.http_connection import HttpConnection
from services.streamer.http_request import Request

log = logging.getLogger(__name__)

HOOK_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
Receipt = watcher_pb2.FrameioWebhookReceipt
STATUS_OF = {
    Receipt.ACCEPTED: 200, Receipt.DUPLICATE: 200, Receipt.IGNORED: 200,
    Receipt.BAD_SIGNATURE: 401, Receipt.STALE: 401, Receipt.UNKNOWN_HOOK: 404, Receipt.MALFORMED: 400,
}


@dataclass(frozen=True)
class HookLimits:
    max_body: int = 1024 * 1024
    body_timeout_s: float = 10.0  # from the end of the head to the last byte of the body
    answer_timeout_s: float = 4.0  # from the end of the head: the body, then the watcher's answer (Frame.io waits 5 s)
    least_answer_s: float = 0.5  # what the watcher gets however slowly the body came


class FrameioHooks:
    def __init__(self, watcher: watcher_pb2_grpc.WatcherServiceStub, limits: HookLimits | None = None) -> None:
        self.watcher = watcher
        self.limits = limits or HookLimits()

    async def respond(self, conn: HttpConnection, request: Request) -> bool:
        """Answers one POST under HOOKS_PREFIX; returns whether the connection may be reused
        (not when its body was left unread)."""
        hook = request.path.removeprefix(HOOKS_PREFIX)
        length = int(request.headers["content-length"])  # parse_head made sure a POST has a valid one
        if not HOOK_KEY.fullmatch(hook):
            return await refuse(conn, 404, "no such webhook")
        if length > self.limits.max_body:
            return await refuse(conn, 413, f"at most {self.limits.max_body} bytes")
        head_read = time.monotonic()
        try:
            body = await conn.read_body(length, self.limits.body_timeout_s)
        except TimeoutError:
            return await refuse(conn, 408, "the body did not arrive in time")
        forwarded = request.headers.get("cf-connecting-ip") or request.headers.get("x-forwarded-for")
        delivery = watcher_pb2.FrameioWebhookDelivery(
            hook=hook, timestamp=request.headers.get("x-frameio-request-timestamp", ""),
            signature=request.headers.get("x-frameio-signature", ""), body=body,
            remote_address=f"{forwarded} via {conn.peer()}" if forwarded else conn.peer())
        try:
            left_s = self.limits.answer_timeout_s - (time.monotonic() - head_read)
            receipt = await self.watcher.ReceiveFrameioWebhook(delivery,
                                                               timeout=max(left_s, self.limits.least_answer_s))
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
            log.warning("a Frame.io webhook delivery got 503: the watcher did not take it (%s)",
                        code.name if code is not None else exc)
            await conn.send_simple(503, "not taken now; try again later", headers=[("Retry-After", "15")])
            return True
        status = STATUS_OF.get(receipt.outcome, 500)
        await conn.send_simple(status, Receipt.Outcome.Name(receipt.outcome).lower())
        return True


async def refuse(conn: HttpConnection, status: int, reason: str) -> bool:
    """Refuses a delivery before reading all its body (so the connection closes), with a log line."""
    log.info("a Frame.io webhook delivery from %s refused with %d: %s", conn.peer(), status, reason)
    await conn.send_simple(status, reason, close=True)
    return False
