"""Serving an ASGI app with uvicorn inside this process's event loop, on a socket the caller
listens on (`core.net.listen`), through uvicorn's public API, over HTTP or HTTPS (`tls_options`).
Signals stay with whoever runs the process: uvicorn does not install handlers of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import uvicorn

STARTUP_POLL_S = 0.01  # uvicorn says it started with a flag, not an event


def tls_context(cert: str | os.PathLike, key: str | os.PathLike) -> ssl.SSLContext:
    """A server context serving the certificate chain `cert` with its private key `key` (PEM
    files); raises OSError or ssl.SSLError when they cannot be read or do not match."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def tls_options(context: ssl.SSLContext | None) -> dict[str, Any]:
    """The uvicorn.Config keywords that serve HTTPS with `context` (None: plain HTTP)."""
    return {} if context is None else {"ssl_context_factory": lambda _config, _default: context}


class EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AppServer:
    """`config.app` served on `sock` from `start()` until `stop()`; `async with` does both."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, name: str) -> None:
        self.server = EmbeddedUvicorn(config)
        self.sock = sock  # closed by uvicorn when it stops
        self.port = int(sock.getsockname()[1])
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None]:
        """Done once the server has stopped."""
        assert self._task is not None, f"{self.name} was not started"
        return self._task

    def start(self) -> None:
        """Begins serving; `started()` says when connections are answered."""
        self._task = asyncio.create_task(self.server.serve(sockets=[self.sock]), name=self.name)

    async def started(self) -> None:
        """Returns once uvicorn answers connections; raises its error if it ended before (or
        OSError if it ended without one, e.g. the app's start-up failed)."""
        while not self.server.started:
            if self.task.done():
                await self.task
                raise OSError(f"{self.name} stopped while starting")
            await asyncio.sleep(STARTUP_POLL_S)

    async def stop(self) -> None:
        """Graceful shutdown (uvicorn's `timeout_graceful_shutdown`); how serving ended was
        reported by `started()`."""
        if self._task is not None:
            self.server.should_exit = True
            await asyncio.wait({self._task})

    async def __aenter__(self) -> AppServer:
        self.start()
        try:
            await self.started()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
