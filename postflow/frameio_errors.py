"""What a failed Frame.io call means for its caller, decided by the HTTP status code.

The SDK raises `UnauthorizedError` / `TooManyRequestsError` only when a 401 / 429 body is
JSON; an edge or gateway answering with an HTML page gives a plain `ApiError`, and a JSON
body of an unexpected shape gives a `ParsingError`. So the status code decides, never the
exception class or the body.
"""

from __future__ import annotations

import enum

from frameio.core.api_error import ApiError
from frameio.core.parse_error import ParsingError


class FrameioError(Exception):
    """A Frame.io call that did not succeed; the message is readable as it stands."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ReconnectNeeded(FrameioError):
    """The auth service has no usable grant (never connected, or a reconnect is needed)."""


class TransientError(FrameioError):
    """Worth trying again later: 429, 5xx, network trouble, auth service unreachable."""


class RateLimited(TransientError):
    """Frame.io kept answering 429: slow down. Never the file's fault, so no job fails of it."""


class RequestFailed(FrameioError):
    """Frame.io refused the request for good (4xx other than 401/429)."""


class Answer(enum.Enum):
    """What an HTTP error status asks of the caller."""

    UNAUTHORIZED = "refresh the token once, then reconnect"
    RATE_LIMITED = "wait for the rate limit"
    SERVER_ERROR = "back off and retry if idempotent"
    REFUSED = "give up"
    UNREADABLE = "a success whose body does not parse"


def classify(exc: ApiError | ParsingError) -> Answer:
    """The meaning of an SDK error, from its status code alone."""
    status = exc.status_code or 0
    if status == 401:
        return Answer.UNAUTHORIZED
    if status == 429:
        return Answer.RATE_LIMITED
    if status >= 500:
        return Answer.SERVER_ERROR
    if 200 <= status < 300:
        return Answer.UNREADABLE
    return Answer.REFUSED


def error_detail(exc: ApiError | ParsingError) -> str:
    """The readable part of a Frame.io error body (`errors[0].detail` or `title`), or the
    start of a body that is not JSON."""
    body = exc.body
    if hasattr(body, "model_dump"):
        body = body.model_dump()
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            return str(errors[0].get("detail") or errors[0].get("title") or "")
        return str(body.get("detail") or body.get("message") or body.get("error") or "")
    return " ".join(str(body or "").split())[:200]
