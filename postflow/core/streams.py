"""Following a server stream of another service for as long as this process runs: the
stream is opened again, with backoff, whenever it ends or fails (the other service
restarted, the network blinked)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import NoReturn, TypeVar

import grpc

from postflow.core.backoff import Backoff
from postflow.core.errors import from_rpc_error

log = logging.getLogger(__name__)

T = TypeVar("T")


async def follow(name: str, open_stream: Callable[[], AsyncIterable[T]],
                 on_message: Callable[[T], Awaitable[None] | None], backoff: Backoff, *,
                 on_connect: Callable[[], Awaitable[None]] | None = None,
                 on_disconnect: Callable[[str], None] | None = None) -> NoReturn:
    """Reads `open_stream()` until cancelled, handing each message to `on_message` (sync or
    async), and reopens it after `backoff.failed()` whenever it ends or raises.

    `on_connect` runs before each opening (e.g. a unary call proving the service answers; a
    gRPC error there counts as a failed connection); `on_disconnect(reason)` after each loss.
    Whether a connection lasted long enough to reset the backoff is the backoff's
    `reset_after_s`. An error in a handler is logged and treated as a lost connection, so a
    bug in one message never ends the following for good."""
    while True:
        backoff.started()
        try:
            if on_connect is not None:
                await on_connect()
            stream = open_stream()
            try:
                async for message in stream:
                    handled = on_message(message)
                    if inspect.isawaitable(handled):
                        await handled
            finally:
                if isinstance(stream, grpc.aio.Call):
                    stream.cancel()
            reason = "the stream ended"
        except grpc.RpcError as exc:
            reason = str(from_rpc_error(exc))
        except Exception as exc:
            log.exception("%s stream failed", name)
            reason = f"internal error: {exc}"
        delay = backoff.failed()
        level = logging.WARNING if backoff.failures == 1 else logging.INFO
        log.log(level, "%s stream: %s; reconnecting in %.1fs", name, reason, delay)
        if on_disconnect is not None:
            on_disconnect(reason)
        await asyncio.sleep(delay)
