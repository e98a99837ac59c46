"""gRPC seen from a test: the error a call ends with, and whether a server answers SERVING."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc

from postflow.core.rpc import check_health


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error `call` fails with; fails the test if it succeeds."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the call succeeded")


async def serving(address: str) -> bool:
    return await check_health(address, timeout=1) == "SERVING"
