"""HTTP/1.1 spoken byte by byte, for what no client library would send: send raw bytes, read
everything until the server closes, and split it into responses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after this response


async def raw_exchange(port: int, data: bytes, read_timeout: float = 5.0) -> bytes:
    """Sends `data` and returns everything the server sends until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        async with asyncio.timeout(read_timeout):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)
    except ConnectionResetError:
        return b"".join(chunks)
    finally:
        writer.close()


def parse_responses(data: bytes, head_only: bool = False) -> list[RawResponse]:
    """Splits a byte stream into HTTP/1.1 responses (Content-Length framing)."""
    responses = []
    while data:
        head, sep, data = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete head: {head[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only else int(headers.get("content-length", "0"))
        body, data = data[:length], data[length:]
        responses.append(RawResponse(status, headers, body, headers.get("connection") == "close"))
    return responses


def request_bytes(path: str, *extra: str, method: str = "GET", version: str = "HTTP/1.1", close: bool = True) -> bytes:
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1", *extra]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]
