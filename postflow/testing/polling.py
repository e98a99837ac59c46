"""Waiting for a condition by polling it with a deadline (never by sleeping a guessed time)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def wait_for(check: Callable[[], Awaitable[T]], timeout: float = ..., interval: float = ...,
                   message: str = ...) -> T: ...


@overload
async def wait_for(check: Callable[[], T], timeout: float = ..., interval: float = ..., message: str = ...) -> T: ...


async def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
                   message: str = "condition") -> Any:
    """Polls `check` (sync or async) until it returns something truthy, and returns that;
    fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {result!r})")
        await asyncio.sleep(interval)
