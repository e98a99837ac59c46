"""Strict HTTP/1.1 request heads (RFC 9112 §2-§5): request line and header fields, with
size limits, and whether the body is one the server may read (a POST's, of a declared
length). Anything outside the grammar is a `BadRequest` carrying its 4xx status."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_REQUEST_LINE = re.compile(rf"({_TCHAR}+) ([\x21-\x7e]+) (HTTP/\d\.\d)")
# After the request line, each field is CRLF, token, ":", OWS, visible or blank characters.
# This also rejects obs-fold and whitespace before the colon (RFC 9112 §5.1, §5.2).
_FIELDS = re.compile(rf"(?:\r\n{_TCHAR}+:[^\x00-\x08\x0a-\x1f\x7f]*)*")
# Fields that must appear at most once; a duplicate is a request smuggling or confusion attempt.
_LENGTH = re.compile(r"[0-9]{1,15}")
_SINGLETONS = frozenset({"host", "range", "if-range", "content-length"})


@dataclass(frozen=True)
class HeadLimits:
    max_request_line: int = 8192
    max_head: int = 16384
    max_fields: int = 64


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Request(NamedTuple):
    method: str
    path: str  # the target's path, query removed
    version: str
    headers: dict[str, str]  # lower-case names; repeated list fields joined with ", "
    keep_alive: bool


def check_incomplete(buffer: bytes | bytearray, limits: HeadLimits) -> None:
    """Raises when a head still being received is already too large to accept."""
    line_end = buffer.find(b"\r\n")
    if (line_end < 0 and len(buffer) > limits.max_request_line) or line_end > limits.max_request_line:
        raise BadRequest(414, "request line too long")
    if len(buffer) > limits.max_head:
        raise BadRequest(431, "request header fields too large")


def parse_head(head: bytes, limits: HeadLimits) -> Request:
    """Parses a complete head (without the final blank line)."""
    if len(head) > limits.max_head:
        raise BadRequest(431, "request header fields too large")
    text = head.decode("latin-1")
    line, crlf, fields = text.partition("\r\n")
    if len(line) > limits.max_request_line:
        raise BadRequest(414, "request line too long")
    method, path, version = _request_line(line)
    headers: dict[str, str] = {}
    if crlf:
        if not _FIELDS.fullmatch("\r\n" + fields):
            raise BadRequest(400, "malformed header field")
        lines = fields.split("\r\n")
        if len(lines) > limits.max_fields:
            raise BadRequest(431, "too many header fields")
        for field_line in lines:  # each one `token:value`, as _FIELDS has just checked
            name, _, value = field_line.partition(":")
            name, value = name.lower(), value.strip(" \t")
            if name in headers:
                if name in _SINGLETONS:
                    raise BadRequest(400, f"repeated {name} header")
                headers[name] = f"{headers[name]}, {value}"
            else:
                headers[name] = value
    if version == "HTTP/1.1" and "host" not in headers:
        raise BadRequest(400, "missing Host header")
    _check_body(method, headers)
    return Request(method, path, version, headers, _keep_alive(version, headers))


def _check_body(method: str, headers: dict[str, str]) -> None:
    """Only a POST has a body, and only one of a declared length (no chunked transfer coding)."""
    if "transfer-encoding" in headers:
        raise BadRequest(411 if method == "POST" else 400, "send the body with a Content-Length, not chunked")
    length = headers.get("content-length")
    if length is not None and not _LENGTH.fullmatch(length):
        raise BadRequest(400, "malformed Content-Length")
    if method == "POST" and length is None:
        raise BadRequest(411, "a POST needs a Content-Length")
    if method != "POST" and int(length or 0):
        raise BadRequest(400, "request bodies are not accepted")


def _request_line(line: str) -> tuple[str, str, str]:
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise BadRequest(400, "malformed request line")
    method, target, version = match.groups()
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(505, "HTTP version not supported")
    return method, _path_of(target), version


def _path_of(target: str) -> str:
    if target.startswith(("http://", "https://")):  # absolute-form (RFC 9112 §3.2.2)
        slash = target.find("/", target.index("//") + 2)
        target = target[slash:] if slash >= 0 else "/"
    if not target.startswith("/"):
        raise BadRequest(400, "request target must be a path")
    return target.split("?", 1)[0]


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    if version != "HTTP/1.1":
        return False
    connection = headers.get("connection")
    return connection is None or "close" not in {t.strip().lower() for t in connection.split(",")}
