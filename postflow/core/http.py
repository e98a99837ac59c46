"""HTTP: one way to build an httpx client whose requests are traced, and the header that
names a download."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport
from opentelemetry.trace import TracerProvider

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's own defaults


def traced_client(tracer_provider: TracerProvider | None, *, timeout: httpx.Timeout | float,
                  limits: httpx.Limits = DEFAULT_LIMITS, retries: int = 0, **options: Any) -> httpx.AsyncClient:
    """An httpx.AsyncClient whose every request is a client span of `tracer_provider` (the
    global one when None) and carries the trace context to the server. `limits` and
    `retries` (of failed connects) shape the connection pool; `options` go to the client
    (headers, follow_redirects, …)."""
    pool = httpx.AsyncHTTPTransport(limits=limits, retries=retries)
    transport = AsyncOpenTelemetryTransport(pool, tracer_provider=tracer_provider)
    return httpx.AsyncClient(timeout=timeout, transport=transport, **options)


def content_disposition(name: str) -> str:
    """`attachment` with the original name: RFC 8187 UTF-8 form, plus an ASCII fallback."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
