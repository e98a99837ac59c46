"""An ASGI app served by embedded uvicorn: answers on the given socket once started, leaves
the process's signal handlers alone, stops gracefully, and raises what made its start fail."""

from __future__ import annotations

import signal
from typing import Any

import httpx
import pytest
import uvicorn

from postflow.core.asgi import AppServer
from postflow.core.net import http_url, listen

Scope = dict[str, Any]


async def hello(scope: Scope, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


def config(app: Any, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=1,
                          **options)


@pytest.mark.asyncio
async def test_the_app_answers_on_the_socket_and_signals_stay_with_the_process():
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with listen("127.0.0.1", 0) as sock:
        async with AppServer(config(hello), sock, "hello") as server:
            assert server.port == sock.getsockname()[1]
            async with httpx.AsyncClient() as http:
                response = await http.get(http_url("127.0.0.1", server.port))
            assert (response.status_code, response.text) == (200, "hello")
            assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
        assert server.task.done() and server.task.exception() is None
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.TransportError):
                await http.get(http_url("127.0.0.1", server.port))


@pytest.mark.asyncio
async def test_an_error_while_starting_is_raised_by_started(tmp_path):
    with listen("127.0.0.1", 0) as sock:
        server = AppServer(config(hello, ssl_certfile=str(tmp_path / "missing.pem")), sock, "hello over TLS")
        server.start()
        with pytest.raises(FileNotFoundError):
            await server.started()
        await server.stop()
        assert server.task.done()
