"""A FrameioClient whose HTTP answers come from the test (httpx.MockTransport, no network),
with tokens, time and sleeping under the test's control."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from postflow.core.config import FrameioConfig
from postflow.frameio import FrameioClient
from postflow.testing.clock import ManualClock

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


class Tokens:
    """A token source: `token-1`, then `token-2` after a forced refresh (or `fail` raised)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[bool, str]] = []
        self.current = "token-1"
        self.fail = fail

    async def access_token(self, *, force_refresh: bool = False, rejected_token: str = "") -> str:
        if self.fail:
            raise self.fail
        self.calls.append((force_refresh, rejected_token))
        if force_refresh:
            self.current = "token-2"
        return self.current


class ManualTime:
    """`clock` stands still except when `sleep` is awaited, which moves it on at once and
    records the wait."""

    def __init__(self) -> None:
        self.clock = ManualClock(1000.0)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def html(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    """An answer as an edge or gateway gives it: an HTML page, not Frame.io's JSON."""
    return httpx.Response(status, headers={"content-type": "text/html", **(headers or {})},
                          text=f"<html><body><h1>{status}</h1>upstream trouble</body></html>")


def mock_client(answers: list[Answer] | Callable[[httpx.Request], httpx.Response], tokens: Tokens | None = None,
                config: FrameioConfig | None = None, **kwargs: Any) -> tuple[FrameioClient, list[httpx.Request]]:
    """A FrameioClient answered by `answers` (consumed in order) or by a handler; returns it
    and the requests it sent. Server-error back-off starts at 0.01 s unless given."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if callable(answers):
            return answers(request)
        answer = answers.pop(0)
        return answer(request) if callable(answer) else answer

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    kwargs.setdefault("server_error_backoff_s", 0.01)
    client = FrameioClient(config or FrameioConfig(api_base_url="http://frameio.test"), tokens or Tokens(), http,
                           **kwargs)
    return client, seen
