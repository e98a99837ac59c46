"""What to answer to a GET or HEAD of a published file, decided from the request headers
and the file's stat alone: status, header fields and body pieces (no I/O)."""

from __future__ import annotations

import functools
import mimetypes
import os
import secrets
import urllib.parse
from dataclasses import dataclass, field

from services.streamer.ranges import (
    ByteRange, MalformedRange, UnsatisfiableRange, http_date, if_range_matches, multipart_plan, parse_range,
    strong_etag,
)


@dataclass
class ResponsePlan:
    status: int
    headers: list[tuple[str, str]]
    pieces: list[bytes | ByteRange] = field(default_factory=list)  # file ranges and literal bytes, in order
    error: str | None = None  # set for an error answered with a short text body


def plan_response(method: str, headers: dict[str, str], name: str, st: os.stat_result,
                  max_ranges: int) -> ResponsePlan:
    size = st.st_size
    etag = strong_etag(size, st.st_mtime_ns, st.st_ino)
    mtime_s = st.st_mtime_ns // 1_000_000_000
    content_type = content_type_of(name)
    common = [("Accept-Ranges", "bytes"), ("ETag", etag), ("Last-Modified", http_date(mtime_s)),
              ("Cache-Control", "no-store"), ("Content-Disposition", content_disposition(name))]
    # Range is defined for GET only (RFC 9110 §14.2): a HEAD describes the whole file.
    wanted = headers.get("range") if method == "GET" else None
    if wanted is not None and not if_range_matches(headers.get("if-range"), etag, mtime_s):
        wanted = None
    try:
        ranges = parse_range(wanted, size, max_ranges)
    except MalformedRange as exc:
        return ResponsePlan(400, [], error=f"bad Range: {exc}")
    except UnsatisfiableRange:
        return ResponsePlan(416, [("Content-Range", f"bytes */{size}")], error="range not satisfiable")
    if ranges is None:
        return ResponsePlan(200, [*common, ("Content-Type", content_type), ("Content-Length", str(size))],
                            [ByteRange(0, size - 1)] if size else [])
    if len(ranges) == 1:
        (only,) = ranges
        return ResponsePlan(206, [*common, ("Content-Type", content_type), ("Content-Length", str(only.length)),
                                  ("Content-Range", only.content_range(size))], [only])
    plan = multipart_plan(ranges, size, content_type, secrets.token_hex(16))
    return ResponsePlan(206, [*common, ("Content-Type", plan.content_type),
                              ("Content-Length", str(plan.content_length))], list(plan.pieces))


@functools.lru_cache(maxsize=1024)
def content_type_of(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


@functools.lru_cache(maxsize=1024)
def content_disposition(name: str) -> str:
    """`attachment` with the original name: RFC 8187 UTF-8 form, plus an ASCII fallback."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
