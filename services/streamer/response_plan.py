"""What to answer to a GET or HEAD of a published file, decided from the request headers
and the file's stat alone: status, header fields and body pieces (no I/O)."""

from __future__ import annotations

import mimetypes
import secrets
from dataclasses import dataclass, field

from postflow.core.http import content_disposition
from services.streamer.ranges import (
    ByteRange,
    MalformedRange,
    UnsatisfiableRange,
    http_date,
    if_range_matches,
    multipart_plan,
    parse_range,
    strong_etag,
)


@dataclass
class ResponsePlan:
    status: int
    headers: list[tuple[str, str]]
    pieces: list[bytes | ByteRange] = field(default_factory=list)  # file ranges and literal bytes, in order
    error: str | None = None  # set for an error answered with a short text body
    fields: bytes = b""  # header fields already encoded, sent before `headers`


@dataclass(frozen=True)
class Representation:
    """What the answers for one published file share, computed once per publication: the
    file is served only while its size and mtime are the published ones."""

    size: int
    etag: str
    mtime_s: int
    content_type: str
    common: bytes  # the encoded header fields of every successful answer …
    typed: bytes  # … and with the file's Content-Type, for an answer with the file or one range


def describe(name: str, size: int, mtime_ns: int, inode: int) -> Representation:
    etag = strong_etag(size, mtime_ns, inode)
    mtime_s = mtime_ns // 1_000_000_000
    content_type = content_type_of(name)
    common = (("Accept-Ranges", "bytes"), ("ETag", etag), ("Last-Modified", http_date(mtime_s)),
              ("Cache-Control", "no-store"), ("Content-Disposition", content_disposition(name)))
    return Representation(size, etag, mtime_s, content_type, encode_fields(common),
                          encode_fields((*common, ("Content-Type", content_type))))


def encode_fields(fields: tuple[tuple[str, str], ...]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in fields).encode("latin-1")


def plan_response(method: str, headers: dict[str, str], file: Representation, max_ranges: int) -> ResponsePlan:
    size = file.size
    # Range is defined for GET only (RFC 9110 §14.2): a HEAD describes the whole file.
    wanted = headers.get("range") if method == "GET" else None
    if wanted is not None and not if_range_matches(headers.get("if-range"), file.etag, file.mtime_s):
        wanted = None
    try:
        ranges = parse_range(wanted, size, max_ranges)
    except MalformedRange as exc:
        return ResponsePlan(400, [], error=f"bad Range: {exc}")
    except UnsatisfiableRange:
        return ResponsePlan(416, [("Content-Range", f"bytes */{size}")], error="range not satisfiable")
    if ranges is None:
        return ResponsePlan(200, [("Content-Length", str(size))], [ByteRange(0, size - 1)] if size else [],
                            fields=file.typed)
    if len(ranges) == 1:
        (only,) = ranges
        return ResponsePlan(206, [("Content-Length", str(only.length)), ("Content-Range", only.content_range(size))],
                            [only], fields=file.typed)
    plan = multipart_plan(ranges, size, file.content_type, secrets.token_hex(16))
    return ResponsePlan(206, [("Content-Type", plan.content_type), ("Content-Length", str(plan.content_length))],
                        list(plan.pieces), fields=file.common)


def content_type_of(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"

