"""Faults injected at run time through `POST /_emulator/faults`, and the ASGI middleware that
answers matching calls with a 429 or a 5xx before the emulator handles them (and, under
`error_body`, turns 401/429/5xx answers into an edge's HTML page).

The JSON body holds any of these keys; a key set to null clears that fault, and
`DELETE /_emulator/faults` clears them all:

    {"rate_limit_burst": {"count": 3, "path": "/v4/*", "retry_after": 1},
     "server_error": {"status": 503, "path": "/v4/*", "nth": 1, "count": 1},
     "retry_after": true,
     "error_body": "html",
     "access_token_ttl": 2,
     "refresh_token_ttl": 60,
     "expire_access_tokens": true,
     "reject_refresh_token_reuse": false,
     "expired_refresh_error": "invalid_grant",
     "processing_delay_s": 30,
     "remote_upload_refusal": 422,
     "part_request_timeout": {"count": 2},
     "part_url_expired": {"count": 1},
     "pull_disconnect": {"at_byte": 1048576, "mode": "once"},
     "pull_bytes_per_s": 1048576,
     "pull_strategy": {"mode": "ranges", "chunk_size": 8388608, "parallelism": 4},
     "version_stack_placement": "bottom",
     "webhook_drop": {"count": 2},
     "rate_limits": false}

Calls:
- `rate_limit_burst` answers the next `count` matching calls 429 (with `x-ratelimit-*`, the
  window being `retry_after` or 1 s); `Retry-After` only when the burst names `retry_after`.
- `server_error` fails the `nth` matching call from now on and the `count - 1` after it.
- `path` is a shell-style pattern over the request path (default `/v4/*`; `/ims/*`, `/_s3/*`
  or `*` reach the other surfaces).
- `retry_after` adds `Retry-After` to the real rate limiter's 429s (and to bursts that name
  none): `true` for the seconds until the bucket takes a call, or a fixed number of seconds.
  By default a 429 carries no `Retry-After`: Frame.io documents only the `x-ratelimit-*` headers.
- `error_body: "html"` answers every 401, 429 and 5xx of Frame.io (`/v4`) and IMS (`/ims`)
  with an HTML page, as an edge or gateway would (headers kept); null: their JSON bodies.

Tokens (IMS):
- `access_token_ttl` / `refresh_token_ttl` (seconds) apply to tokens issued after they are
  set. A refresh token's life is absolute from the login that started its grant: one obtained
  by refreshing keeps the grant's deadline (login + ttl), never a fresh one.
- `expire_access_tokens` is an action: every access token issued so far expires now.
- `reject_refresh_token_reuse: false` lets a rotated refresh token be used again.
- `expired_refresh_error`: the `error` for an expired refresh token, `invalid_token` (the
  default, with "expired" in `error_description`, as the SDK's auth module expects) or
  `invalid_grant`; a revoked, rotated or unknown one is always `invalid_grant`.

Uploads:
- `processing_delay_s`: seconds from the last byte (pushed part or pulled byte) to
  `upload_complete`; the file stays `created` until then. For bytes that end after it is set.
- `remote_upload_refusal`: 400 (the default) or 422, the status of a remote upload whose
  source cannot be read or is over the 50 GB limit.
- `part_request_timeout` / `part_url_expired` (`{"count": N}`): the next N part PUTs are
  answered as S3 would, HTTP 400 `RequestTimeout` resp. HTTP 403 `AccessDenied` "Request has
  expired"; the part is not stored.
- `pull_disconnect` cuts the puller's connection when it reaches that byte of the file: `once`
  per file (the retry succeeds) or `always` (the pull fails). `pull_bytes_per_s` caps each pull
  (all its connections together); pull settings apply to pulls that start after they are set.

Version stacks:
- `version_stack_placement`: where a file moved into a stack lands, `head` or `bottom`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fnmatch import fnmatchcase
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postflow.emulator.options import REFUSAL_STATUSES, STACK_PLACEMENTS, EmulatorOptions, PullStrategy
from postflow.emulator.responses import error_for_path

DEFAULT_PATTERN = "/v4/*"
DISCONNECT_MODES = ("once", "always")
ERROR_BODIES = ("html", "json")
EXPIRED_REFRESH_ERRORS = ("invalid_token", "invalid_grant")
EDGE_SURFACES = ("/v4/", "/ims/")  # where an edge may answer in HTML


@dataclass
class CallFault:
    """Answers the `nth` to `nth + count - 1` calls whose path matches `pattern` with `status`."""

    status: int
    pattern: str
    nth: int
    count: int
    retry_after_s: float | None = None
    seen: int = 0

    def hits(self, path: str) -> bool:
        if not fnmatchcase(path, self.pattern):
            return False
        self.seen += 1
        return self.nth <= self.seen < self.nth + self.count

    def headers(self, retry_after: float | bool | None) -> dict[str, str]:
        """A 429's headers: `x-ratelimit-*`, and `Retry-After` when this burst or `retry_after` names one."""
        if self.status != 429:
            return {}
        window_s = self.retry_after_s if self.retry_after_s is not None else 1.0
        headers = {"x-ratelimit-limit": str(self.count), "x-ratelimit-remaining": "0",
                   "x-ratelimit-window": str(int(window_s * 1000))}
        wait = self.retry_after_s if self.retry_after_s is not None else retry_after
        if wait is True:
            wait = window_s
        if wait is not None and wait is not False:
            headers["Retry-After"] = str(math.ceil(wait))
        return headers

    def describe(self) -> dict:
        return {"status": self.status, "path": self.pattern, "nth": self.nth, "count": self.count,
                "retry_after": self.retry_after_s, "seen": self.seen}


@dataclass
class Countdown:
    """Hits the next `count` calls it is asked about, then no more."""

    count: int

    def take(self) -> bool:
        if self.count < 1:
            return False
        self.count -= 1
        return True


@dataclass(frozen=True)
class PullDisconnect:
    at_byte: int
    mode: str


class Faults:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.burst: CallFault | None = None
        self.server_error: CallFault | None = None
        self.retry_after: float | bool | None = None
        self.error_body: str | None = None
        self.access_token_ttl_s: int | None = None
        self.refresh_token_ttl_s: int | None = None
        self.reject_refresh_reuse: bool | None = None  # None: the default, on
        self.expired_refresh_error: str | None = None
        self.processing_delay_s: float | None = None
        self.remote_upload_refusal: int | None = None
        self.part_request_timeout: Countdown | None = None
        self.part_url_expired: Countdown | None = None
        self.rate_limits: bool | None = None
        self.pull_strategy: PullStrategy | None = None
        self.pull_bytes_per_s: int | None = None
        self.pull_disconnect: PullDisconnect | None = None
        self.version_stack_placement: str | None = None
        self.webhook_drop: Countdown | bool | None = None

    def apply(self, spec: dict) -> None:
        """Sets the faults named in `spec` (ValueError, naming the key, if one is malformed).
        `expire_access_tokens` is an action, not a fault: the caller performs it."""
        parsers = {
            "rate_limit_burst": ("burst", _burst), "server_error": ("server_error", _server_error),
            "retry_after": ("retry_after", _retry_after),
            "error_body": ("error_body", lambda v: _choice(v, ERROR_BODIES)),
            "access_token_ttl": ("access_token_ttl_s", lambda v: _number(v, int, 1)),
            "refresh_token_ttl": ("refresh_token_ttl_s", lambda v: _number(v, int, 1)),
            "reject_refresh_token_reuse": ("reject_refresh_reuse", _bool),
            "expired_refresh_error": ("expired_refresh_error", lambda v: _choice(v, EXPIRED_REFRESH_ERRORS)),
            "processing_delay_s": ("processing_delay_s", lambda v: _number(v, float, 0)),
            "remote_upload_refusal": ("remote_upload_refusal", lambda v: _choice(v, REFUSAL_STATUSES)),
            "part_request_timeout": ("part_request_timeout", _countdown),
            "part_url_expired": ("part_url_expired", _countdown),
            "rate_limits": ("rate_limits", _bool),
            "pull_strategy": ("pull_strategy", lambda v: PullStrategy(**_object(v))),
            "pull_bytes_per_s": ("pull_bytes_per_s", lambda v: _number(v, int, 1)),
            "pull_disconnect": ("pull_disconnect", _disconnect),
            "version_stack_placement": ("version_stack_placement", lambda v: _choice(v, STACK_PLACEMENTS)),
            "webhook_drop": ("webhook_drop", lambda v: v if isinstance(v, bool) else _countdown(v)),
        }
        unknown = set(spec) - set(parsers) - {"expire_access_tokens"}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        parsed = {}
        for key, (attribute, parse) in parsers.items():
            if key in spec:
                try:
                    parsed[attribute] = None if spec[key] is None else parse(spec[key])
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{key}: {exc}") from None
        if parsed.get("error_body") == "json":
            parsed["error_body"] = None
        for attribute, value in parsed.items():
            setattr(self, attribute, value)

    @property
    def rejects_refresh_reuse(self) -> bool:
        return self.reject_refresh_reuse is not False

    def processing_delay(self, options: EmulatorOptions) -> float:
        return options.processing_delay_s if self.processing_delay_s is None else self.processing_delay_s

    def refusal_status(self, options: EmulatorOptions) -> int:
        return self.remote_upload_refusal or options.remote_upload_refusal

    def stack_placement(self, options: EmulatorOptions) -> str:
        return self.version_stack_placement or options.version_stack_placement

    def refresh_ttl(self, options: EmulatorOptions) -> int:
        return self.refresh_token_ttl_s or options.refresh_token_ttl_s

    def expired_refresh_code(self) -> str:
        return self.expired_refresh_error or "invalid_token"

    def part_put_refusal(self) -> tuple[int, str, str] | None:
        """The S3 error (status, code, message) the next part PUT gets from a fault, if any."""
        if self.part_request_timeout is not None and self.part_request_timeout.take():
            return 400, "RequestTimeout", ("Your socket connection to the server was not read from or written to "
                                           "within the timeout period. Idle connections will be closed.")
        if self.part_url_expired is not None and self.part_url_expired.take():
            return 403, "AccessDenied", "Request has expired"
        return None

    def drops_webhook(self) -> bool:
        """Whether the next webhook delivery is dropped (counting it down)."""
        if isinstance(self.webhook_drop, Countdown):
            return self.webhook_drop.take()
        return bool(self.webhook_drop)

    def hit(self, path: str) -> CallFault | None:
        """The injected fault that answers this call, if any (every call advances the counters)."""
        triggered = [fault for fault in (self.burst, self.server_error) if fault is not None and fault.hits(path)]
        return triggered[0] if triggered else None

    def describe(self) -> dict:
        return {
            "rate_limit_burst": self.burst.describe() if self.burst else None,
            "server_error": self.server_error.describe() if self.server_error else None,
            "retry_after": self.retry_after, "error_body": self.error_body,
            "access_token_ttl": self.access_token_ttl_s, "refresh_token_ttl": self.refresh_token_ttl_s,
            "reject_refresh_token_reuse": self.rejects_refresh_reuse,
            "expired_refresh_error": self.expired_refresh_error,
            "processing_delay_s": self.processing_delay_s, "remote_upload_refusal": self.remote_upload_refusal,
            "part_request_timeout": vars(self.part_request_timeout) if self.part_request_timeout else None,
            "part_url_expired": vars(self.part_url_expired) if self.part_url_expired else None,
            "rate_limits": self.rate_limits,
            "pull_strategy": vars(self.pull_strategy) if self.pull_strategy else None,
            "pull_bytes_per_s": self.pull_bytes_per_s,
            "pull_disconnect": vars(self.pull_disconnect) if self.pull_disconnect else None,
            "version_stack_placement": self.version_stack_placement,
            "webhook_drop": vars(self.webhook_drop) if isinstance(self.webhook_drop, Countdown) else self.webhook_drop,
        }


def edge_page(status: int) -> bytes:
    """The HTML an edge or gateway answers with instead of the service's JSON."""
    title = f"{status} {HTTPStatus(status).phrase}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>edge</center>\r\n</body>\r\n</html>\r\n").encode()


def edge_answers(status: int) -> bool:
    return status in (401, 429) or status >= 500


class FaultMiddleware:
    """Answers calls hit by an injected 429 burst or 5xx in the dialect of their surface, and
    under `error_body: "html"` rewrites 401/429/5xx answers of `/v4` and `/ims` as an edge's page."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or path.startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        if self.faults.error_body == "html" and path.startswith(EDGE_SURFACES):
            send = _html_errors(send)
        fault = self.faults.hit(path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        detail = "Too many requests (injected)" if fault.status == 429 else "Server error (injected)"
        await error_for_path(path, fault.status, detail, fault.headers(self.faults.retry_after))(scope, receive, send)


def _html_errors(send: Send) -> Send:
    """`send`, with the body of a 401/429/5xx answer replaced by an edge's HTML page."""
    replaced: dict[str, int] = {}

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and edge_answers(message["status"]):
            replaced["status"] = message["status"]
            body = edge_page(message["status"])
            headers = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() not in (b"content-type", b"content-length")]
            headers += [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]
            await send({**message, "headers": headers})
            return
        if message["type"] == "http.response.body" and replaced:
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": edge_page(replaced["status"]), "more_body": False})
            return
        await send(message)

    return sending


def _object(value) -> dict:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value


def _bool(value) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _choice(value, choices: tuple):
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"expected one of {', '.join(map(str, choices))}")
    return value


def _number(value, kind: type, minimum: float):
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"expected a number of at least {minimum}")
    return kind(value)


def _retry_after(value) -> float | bool:
    if value is True:
        return True
    return _number(value, float, 0)


def _countdown(value) -> Countdown:
    return Countdown(_number(_object(value).get("count", 1), int, 1))


def _burst(value) -> CallFault:
    spec = _object(value)
    retry_after = spec.get("retry_after")
    return CallFault(429, str(spec.get("path", DEFAULT_PATTERN)), 1, _number(spec.get("count", 1), int, 1),
                     None if retry_after is None else _number(retry_after, float, 0))


def _server_error(value) -> CallFault:
    spec = _object(value)
    status = _number(spec.get("status", 500), int, 500)
    if status > 599:
        raise ValueError("status must be a 5xx code")
    return CallFault(status, str(spec.get("path", DEFAULT_PATTERN)), _number(spec.get("nth", 1), int, 1),
                     _number(spec.get("count", 1), int, 1))


def _disconnect(value) -> PullDisconnect:
    spec = _object(value)
    mode = spec.get("mode", "once")
    if mode not in DISCONNECT_MODES:
        raise ValueError(f"mode must be one of {DISCONNECT_MODES}")
    return PullDisconnect(_number(spec.get("at_byte"), int, 0), mode)
