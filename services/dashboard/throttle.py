"""Coalescing of frequent updates: at most one per key per interval, the latest one wins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Any

MAX_KEYS = 4096  # keys quiet for a whole interval are forgotten beyond this many


class Throttle:
    """Calls `emit(key, value)` at once when the key was quiet for `interval` seconds; else
    keeps only the newest value and emits it when the interval is over (trailing edge)."""

    def __init__(self, interval: float, emit: Callable[[Hashable, Any], None]) -> None:
        self.interval = interval
        self._emit = emit
        self._last: dict[Hashable, float] = {}
        self._pending: dict[Hashable, Any] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}

    def offer(self, key: Hashable, value: Any) -> None:
        if key in self._pending:
            self._pending[key] = value
            return
        now = time.monotonic()
        wait = self._last.get(key, -self.interval) + self.interval - now
        if wait <= 0:
            self._send(key, value, now)
            return
        self._pending[key] = value
        self._timers[key] = asyncio.get_running_loop().call_later(wait, self._flush, key)

    def discard(self, key: Hashable) -> None:
        """Forgets a pending value (a newer full update for the key was sent another way)."""
        self._pending.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def forget(self, key: Hashable) -> None:
        """The key will not come back (a finished job): drop everything held for it."""
        self.discard(key)
        self._last.pop(key, None)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()

    def _flush(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        if key in self._pending:
            self._send(key, self._pending.pop(key), time.monotonic())

    def _send(self, key: Hashable, value: Any, now: float) -> None:
        if len(self._last) >= MAX_KEYS:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        self._last[key] = now
        self._emit(key, value)
