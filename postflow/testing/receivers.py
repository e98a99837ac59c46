"""What receives PostFlow's webhooks and notifications in tests: a local HTTP receiver (a
webhook endpoint that checks signatures as a receiver would, or Apprise's JSON target) that
can be told to fail, to answer slowly or to hold its answers; and an SMTP server (aiosmtpd).
Both record what they got."""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.core.asgi import AppServer
from postflow.core.net import listen
from postflow.testing.ports import free_port

SIGNATURE_TOLERANCE_S = 300  # how old a timestamp a receiver takes (as Frame.io's documentation advises)


def signature_valid(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """What a receiver checks, written from the README's description of the scheme: hex of
    HMAC-SHA256(secret, "v0:{timestamp}:{body}") as `v0=<hex>`, and a recent timestamp."""
    timestamp, given = headers.get("x-postflow-timestamp", ""), headers.get("x-postflow-signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return False
    expected = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int  # the status code the receiver answered (0: it never answered)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers.get("idempotency-key", "")


class HttpReceiver:
    """Records every POST; answers `fail_with` to the next `failures` of them, and while
    `hold` is an Event not yet set, answers only once it is (a slow or hung receiver)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port  # 0: any free one
        self.received: list[Received] = []
        self.failures = 0
        self.fail_with = 503
        self.hold: asyncio.Event | None = None
        self._server: AppServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def apprise_url(self) -> str:
        """Apprise's JSON target, posting here."""
        return self.url.replace("http://", "json://", 1) + "/notify"

    def answered(self) -> list[Received]:
        return [request for request in self.received if request.answered]

    async def _post(self, request: Request) -> Response:
        body = await request.body()
        at = time.time()
        status = 200
        if self.failures:
            self.failures -= 1
            status = self.fail_with
        entry = Received(request.url.path, dict(request.headers), body, at, 0)
        self.received.append(entry)
        if self.hold is not None:
            await self.hold.wait()
        self.received[self.received.index(entry)] = Received(entry.path, entry.headers, body, at, status)
        return JSONResponse({"ok": status == 200}, status_code=status)

    async def __aenter__(self) -> HttpReceiver:
        app = Starlette(routes=[Route("/{path:path}", self._post, methods=["POST"])])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = await AppServer(config, listen("127.0.0.1", self.port), "a test receiver").__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        assert self._server is not None
        await self._server.__aexit__(None, None, None)


class _Collect:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class SmtpSink:
    """An SMTP server on a loopback port (aiosmtpd, in its own thread) keeping every message."""

    def __init__(self) -> None:
        self.port = free_port()
        self._collect = _Collect()
        self._controller = Controller(self._collect, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        with self._collect.lock:
            return list(self._collect.messages)

    def url(self, to: str = "ops@example.com", sender: str = "postflow@example.com") -> str:
        """An Apprise mailto:// URL that sends here, unencrypted and without a login."""
        return f"mailto://127.0.0.1:{self.port}?to={to}&from={sender}&mode=insecure"

    async def __aenter__(self) -> SmtpSink:
        await asyncio.to_thread(self._controller.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._controller.stop)
