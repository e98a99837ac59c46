"""RFC 9110 byte ranges (§14.1-14.4), If-Range (§13.1.5) and multipart/byteranges
(§14.6): pure functions over header values and sizes, no I/O.

Choices where the RFC lets a server choose:
- a Range with a unit other than `bytes` is ignored (the whole file is sent), as §14.2 requires;
- an invalid `bytes` ranges-specifier, or more ranges than allowed, is rejected with 400
  rather than ignored, so a hostile or broken client never turns a tiny request into a
  full-file response;
- ranges are sorted and overlapping or adjacent ones coalesced (§14.2 allows it); one
  range left → a plain 206, several → a correct multipart/byteranges 206.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

MAX_DIGITS = 18  # beyond any file size; longer numbers are treated as "huge", never parsed
HUGE = 10**MAX_DIGITS


class MalformedRange(ValueError):
    """The Range header is invalid or asks for too many ranges (answered with 400)."""


class UnsatisfiableRange(ValueError):
    """No requested range overlaps the file (answered with 416 and `bytes */size`)."""


class ByteRange(NamedTuple):
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int, max_ranges: int) -> list[ByteRange] | None:
    """The ranges to send, sorted and coalesced; None means send the whole file."""
    if header is None:
        return None
    unit, sep, spec = header.partition("=")
    if not sep:
        raise MalformedRange("Range without '='")
    if unit.strip().lower() != "bytes":
        return None
    elements = [element.strip() for element in spec.split(",")]
    elements = [element for element in elements if element]
    if not elements:
        raise MalformedRange("empty ranges-specifier")
    if len(elements) > max_ranges:
        raise MalformedRange(f"more than {max_ranges} ranges")
    satisfiable = [r for r in (_range_spec(element, size) for element in elements) if r is not None]
    if not satisfiable:
        raise UnsatisfiableRange(f"no range within {size} bytes")
    return coalesce(satisfiable)


def _range_spec(element: str, size: int) -> ByteRange | None:
    first, sep, last = element.partition("-")
    if not sep:
        raise MalformedRange(f"range {element[:40]!r} has no '-'")
    first, last = first.strip(), last.strip()
    if not first:
        suffix = _number(last)
        if suffix == 0 or size == 0:
            return None
        return ByteRange(max(0, size - suffix), size - 1)
    start = _number(first)
    end = _number(last) if last else None
    if end is not None and end < start:
        raise MalformedRange(f"range {element[:40]!r} ends before it starts")
    if start >= size:
        return None
    return ByteRange(start, size - 1 if end is None else min(end, size - 1))


def _number(text: str) -> int:
    if not text or not text.isascii() or not text.isdigit():
        raise MalformedRange(f"{text[:40]!r} is not a byte position")
    return HUGE if len(text) > MAX_DIGITS else int(text)


def coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    merged: list[ByteRange] = []
    for r in sorted(ranges, key=lambda r: r.start):
        if merged and r.start <= merged[-1].end + 1:
            if r.end > merged[-1].end:
                merged[-1] = ByteRange(merged[-1].start, r.end)
        else:
            merged.append(r)
    return merged


def if_range_matches(if_range: str | None, etag: str, mtime_s: int) -> bool:
    """Whether a Range may be honoured: no If-Range, or If-Range names the current
    representation (strong ETag comparison, or the exact Last-Modified date)."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return when.tzinfo is not None and int(when.timestamp()) == mtime_s


@lru_cache(maxsize=256)
def http_date(epoch_s: int) -> str:
    return email.utils.formatdate(epoch_s, usegmt=True)


def strong_etag(size: int, mtime_ns: int, inode: int) -> str:
    return f'"{size:x}-{mtime_ns:x}-{inode:x}"'


@dataclass(frozen=True)
class MultipartPlan:
    """A multipart/byteranges body as alternating literal bytes and file ranges."""

    boundary: str
    pieces: tuple[bytes | ByteRange, ...]

    @property
    def content_length(self) -> int:
        return sum(p.length if isinstance(p, ByteRange) else len(p) for p in self.pieces)

    @property
    def content_type(self) -> str:
        return f"multipart/byteranges; boundary={self.boundary}"


def multipart_plan(ranges: list[ByteRange], size: int, content_type: str, boundary: str) -> MultipartPlan:
    pieces: list[bytes | ByteRange] = []
    for index, r in enumerate(ranges):
        lead = b"\r\n" if index else b""
        head = f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {r.content_range(size)}\r\n\r\n"
        pieces += [lead + head.encode("latin-1"), r]
    pieces.append(f"\r\n--{boundary}--\r\n".encode("latin-1"))
    return MultipartPlan(boundary, tuple(pieces))
