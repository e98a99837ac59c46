"""Faults injected at run time through `POST /_emulator/faults`, and the ASGI middleware that
answers matching calls with a 429 or a 5xx before the emulator handles them.

The JSON body holds any of these keys; a key set to null clears that fault, and
`DELETE /_emulator/faults` clears them all:

    {"rate_limit_burst": {"count": 3, "path": "/v4/*", "retry_after": 1},
     "server_error": {"status": 503, "path": "/v4/*", "nth": 1, "count": 1},
     "access_token_ttl": 2,
     "expire_access_tokens": true,
     "reject_refresh_token_reuse": false,
     "pull_disconnect": {"at_byte": 1048576, "mode": "once"},
     "pull_bytes_per_s": 1048576,
     "pull_strategy": {"mode": "ranges", "chunk_size": 8388608, "parallelism": 4},
     "rate_limits": false}

`path` is a shell-style pattern over the request path (default `/v4/*`; `/ims/*`, `/_s3/*`
or `*` reach the other surfaces); `server_error` fails the `nth` matching call from now on
and the `count - 1` after it. `pull_disconnect` cuts the puller's connection when it reaches
that byte of the file: `once` per file (the retry succeeds) or `always` (the pull fails).
`pull_bytes_per_s` caps each pull (all its connections together); pull settings apply to
pulls that start after they are set, and `access_token_ttl` (seconds) to tokens issued after
it. `expire_access_tokens` is an action: every access token issued so far expires now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fnmatch import fnmatchcase

from starlette.types import ASGIApp, Receive, Scope, Send

from postflow.emulator.options import PullStrategy
from postflow.emulator.responses import error_for_path

DEFAULT_PATTERN = "/v4/*"
DISCONNECT_MODES = ("once", "always")


@dataclass
class CallFault:
    """Answers the `nth` to `nth + count - 1` calls whose path matches `pattern` with `status`."""

    status: int
    pattern: str
    nth: int
    count: int
    retry_after_s: float = 0.0
    seen: int = 0

    def hits(self, path: str) -> bool:
        if not fnmatchcase(path, self.pattern):
            return False
        self.seen += 1
        return self.nth <= self.seen < self.nth + self.count

    def headers(self) -> dict[str, str]:
        if self.status != 429:
            return {}
        wait = str(math.ceil(self.retry_after_s))
        return {"Retry-After": wait, "x-ratelimit-limit": str(self.count), "x-ratelimit-remaining": "0",
                "x-ratelimit-window": str(int(self.retry_after_s * 1000))}

    def describe(self) -> dict:
        return {"status": self.status, "path": self.pattern, "nth": self.nth, "count": self.count,
                "retry_after": self.retry_after_s, "seen": self.seen}


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
        self.access_token_ttl_s: int | None = None
        self.reject_refresh_reuse: bool | None = None  # None: the default, on
        self.rate_limits: bool | None = None
        self.pull_strategy: PullStrategy | None = None
        self.pull_bytes_per_s: int | None = None
        self.pull_disconnect: PullDisconnect | None = None

    def apply(self, spec: dict) -> None:
        """Sets the faults named in `spec` (ValueError, naming the key, if one is malformed).
        `expire_access_tokens` is an action, not a fault: the caller performs it."""
        parsers = {
            "rate_limit_burst": ("burst", _burst), "server_error": ("server_error", _server_error),
            "access_token_ttl": ("access_token_ttl_s", lambda v: _number(v, int, 1)),
            "reject_refresh_token_reuse": ("reject_refresh_reuse", _bool),
            "rate_limits": ("rate_limits", _bool),
            "pull_strategy": ("pull_strategy", lambda v: PullStrategy(**_object(v))),
            "pull_bytes_per_s": ("pull_bytes_per_s", lambda v: _number(v, int, 1)),
            "pull_disconnect": ("pull_disconnect", _disconnect),
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
        for attribute, value in parsed.items():
            setattr(self, attribute, value)

    @property
    def rejects_refresh_reuse(self) -> bool:
        return self.reject_refresh_reuse is not False

    def hit(self, path: str) -> CallFault | None:
        """The injected fault that answers this call, if any (every call advances the counters)."""
        triggered = [fault for fault in (self.burst, self.server_error) if fault is not None and fault.hits(path)]
        return triggered[0] if triggered else None

    def describe(self) -> dict:
        return {
            "rate_limit_burst": self.burst.describe() if self.burst else None,
            "server_error": self.server_error.describe() if self.server_error else None,
            "access_token_ttl": self.access_token_ttl_s, "reject_refresh_token_reuse": self.rejects_refresh_reuse,
            "rate_limits": self.rate_limits,
            "pull_strategy": vars(self.pull_strategy) if self.pull_strategy else None,
            "pull_bytes_per_s": self.pull_bytes_per_s,
            "pull_disconnect": vars(self.pull_disconnect) if self.pull_disconnect else None,
        }


class FaultMiddleware:
    """Answers calls hit by an injected 429 burst or 5xx in the dialect of their surface."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        fault = None
        if scope["type"] == "http" and not path.startswith("/_emulator/"):
            fault = self.faults.hit(path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        detail = "Too many requests (injected)" if fault.status == 429 else "Server error (injected)"
        await error_for_path(path, fault.status, detail, fault.headers())(scope, receive, send)


def _object(value) -> dict:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value


def _bool(value) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _number(value, kind: type, minimum: float):
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"expected a number of at least {minimum}")
    return kind(value)


def _burst(value) -> CallFault:
    spec = _object(value)
    return CallFault(429, str(spec.get("path", DEFAULT_PATTERN)), 1, _number(spec.get("count", 1), int, 1),
                     _number(spec.get("retry_after", 1), float, 0))


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
