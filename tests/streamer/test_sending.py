"""How HttpConnection puts a body on the wire: a body one sendfile call can send goes out
without touching TCP_CORK (the head rode along with MSG_MORE); a body larger than the send
buffer is corked from the first short write until the response ends, and arrives whole."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from services.streamer.http_connection import HttpConnection, HttpLimits

MiB = 1024 * 1024


def corked(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))


async def receive(sock: socket.socket, count: int) -> bytes:
    loop = asyncio.get_running_loop()
    chunks, received = [], 0
    while received < count:
        chunk = await loop.sock_recv(sock, MiB)
        assert chunk, f"connection closed after {received} of {count} bytes"
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


@pytest.mark.asyncio
async def test_only_a_body_that_fills_the_send_buffer_is_corked(tmp_path):
    payload = os.urandom(32 * MiB)
    (tmp_path / "body").write_bytes(payload)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    client.setblocking(False)
    server.setblocking(False)
    fd = os.open(tmp_path / "body", os.O_RDONLY)
    conn = HttpConnection(server, handler=None, limits=HttpLimits())
    try:
        assert await conn.sendfile(fd, 0, 1000) == 1000
        assert not corked(server), "one call sent it: no cork, no setsockopt"
        assert await receive(client, 1000) == payload[:1000]

        reading = asyncio.create_task(receive(client, len(payload)))
        assert await conn.sendfile(fd, 0, len(payload)) == len(payload)
        assert corked(server), "short writes happened: only full segments until the response ends"
        conn.end_response()
        assert not corked(server)
        received = await asyncio.wait_for(reading, 30)
        assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    finally:
        os.close(fd)
        conn.close()
        client.close()
