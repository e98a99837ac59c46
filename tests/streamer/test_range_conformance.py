"""RFC 9110 Range conformance of the public Range server, and its answers to hostile
requests (every one a 4xx, never a 500, never a file byte it should not send)."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import os
import secrets
import time
from pathlib import Path

import grpc
import httpx
import pytest
import pytest_asyncio

from postflow.testing.polling import wait_for
from postflow.testing.raw_http import parse_responses, path_of, raw_exchange, request_bytes
from postflow.testing.streamer import start_streamer, stop_streamer, streamer_config
from postflow.v1 import streamer_pb2

SIZE = 3 * 1024 * 1024 + 17
NAME = "SQ01/SH010/Szene 1 – ü.mov"


@pytest_asyncio.fixture
async def published(streamer):
    streamer.media(NAME, SIZE, seed=3)
    publication = await streamer.publish(NAME)
    data = (streamer.root / NAME).read_bytes()
    async with httpx.AsyncClient(timeout=10) as client:
        yield streamer, publication, data, client


async def get(client: httpx.AsyncClient, url: str, method: str = "GET", **headers: str) -> httpx.Response:
    return await client.request(method, url, headers={k.replace("_", "-"): v for k, v in headers.items()})


# --- RFC 9110 behaviour ---

@pytest.mark.asyncio
async def test_full_get_has_every_header_and_the_exact_bytes(published):
    streamer, publication, data, client = published
    response = await get(client, publication.url)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()
    h = response.headers
    assert h["content-length"] == str(SIZE)
    assert h["accept-ranges"] == "bytes"
    assert h["content-type"] == "video/quicktime"
    assert h["cache-control"] == "no-store"
    assert h["etag"].startswith('"') and h["etag"].endswith('"')
    mtime = (streamer.root / NAME).stat().st_mtime
    assert email.utils.parsedate_to_datetime(h["last-modified"]).timestamp() == int(mtime)
    assert h["content-disposition"] == (
        "attachment; filename=\"Szene 1 _ _.mov\"; filename*=UTF-8''Szene%201%20%E2%80%93%20%C3%BC.mov")


@pytest.mark.asyncio
async def test_head_describes_the_whole_file_without_a_body(published):
    _, publication, _, client = published
    response = await get(client, publication.url, "HEAD", range="bytes=0-9")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(SIZE)
    assert response.content == b""


@pytest.mark.parametrize(("spec", "start", "end"), [
    ("bytes=10-19", 10, 19),
    ("bytes=-100", SIZE - 100, SIZE - 1),
    (f"bytes={SIZE - 5}-", SIZE - 5, SIZE - 1),
    (f"bytes={SIZE - 10}-{SIZE + 1000}", SIZE - 10, SIZE - 1),
    (f"bytes=-{SIZE * 2}", 0, SIZE - 1),
    ("bytes=0-0", 0, 0),
    ("bytes=0-99999999999999999999999999999", 0, SIZE - 1),
    ("BYTES = 5-9", 5, 9),
])
@pytest.mark.asyncio
async def test_single_suffix_and_open_ended_ranges(published, spec, start, end):
    _, publication, data, client = published
    response = await get(client, publication.url, range=spec)
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == data[start:end + 1]


@pytest.mark.asyncio
async def test_multiple_ranges_are_a_correct_multipart_byteranges(published):
    _, publication, data, client = published
    response = await get(client, publication.url, range="bytes=-3, 0-4,100-199")
    assert response.status_code == 206
    content_type, _, boundary = response.headers["content-type"].partition("; boundary=")
    assert content_type == "multipart/byteranges" and boundary
    assert int(response.headers["content-length"]) == len(response.content)
    parts = response.content.split(f"--{boundary}".encode())
    assert parts[0] == b"" and parts[-1] == b"--\r\n"
    got = []
    for part in parts[1:-1]:
        head, _, body = part.strip(b"\r\n").partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        assert fields["Content-Type"] == "video/quicktime"
        first, last = map(int, fields["Content-Range"].removeprefix("bytes ").split("/")[0].split("-"))
        assert body == data[first:last + 1]
        got.append((first, last))
    assert got == [(0, 4), (100, 199), (SIZE - 3, SIZE - 1)]  # sorted, as RFC 9110 allows


@pytest.mark.asyncio
async def test_overlapping_ranges_are_coalesced_into_one(published):
    _, publication, data, client = published
    response = await get(client, publication.url, range="bytes=0-99,50-149,150-160")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-160/{SIZE}"
    assert response.content == data[:161]


@pytest.mark.parametrize("spec", [f"bytes={SIZE}-", "bytes=-0", f"bytes={SIZE + 5}-{SIZE + 10}",
                                  "bytes=99999999999999999999999999-"])
@pytest.mark.asyncio
async def test_unsatisfiable_ranges_get_416_with_the_size(published, spec):
    _, publication, _, client = published
    response = await get(client, publication.url, range=spec)
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert len(response.content) < 100


@pytest.mark.asyncio
async def test_an_unknown_range_unit_is_ignored(published):
    _, publication, data, client = published
    response = await get(client, publication.url, range="items=0-1")
    assert response.status_code == 200 and len(response.content) == SIZE


@pytest.mark.asyncio
async def test_if_range_with_the_current_etag_or_date_honours_the_range(published):
    _, publication, data, client = published
    first = await get(client, publication.url, "HEAD")
    for validator in (first.headers["etag"], first.headers["last-modified"]):
        response = await get(client, publication.url, range="bytes=5-9", if_range=validator)
        assert response.status_code == 206 and response.content == data[5:10]


@pytest.mark.asyncio
@pytest.mark.parametrize("validator", ['"stale-etag"', 'W/"weak"', "Mon, 01 Jan 2001 00:00:00 GMT", "not a date"])
async def test_if_range_with_a_stale_validator_sends_the_whole_file(published, validator):
    _, publication, data, client = published
    response = await get(client, publication.url, range="bytes=5-9", if_range=validator)
    assert response.status_code == 200 and len(response.content) == SIZE


@pytest.mark.asyncio
async def test_keep_alive_and_pipelined_requests_are_answered_in_order(published):
    streamer, publication, data, _ = published
    path = path_of(publication.url)
    raw = await raw_exchange(streamer.http_port, request_bytes(path, "Range: bytes=0-9", close=False)
                             + request_bytes("/livez", close=False) + request_bytes(path, "Range: bytes=-5"))
    first, second, third = parse_responses(raw)
    assert (first.status, first.body) == (206, data[:10])
    assert (second.status, second.body) == (200, b"ok\n")
    assert (third.status, third.body, third.closed) == (206, data[-5:], True)


@pytest.mark.asyncio
async def test_http_1_0_gets_its_answer_and_a_closed_connection(published):
    streamer, publication, data, _ = published
    raw = await raw_exchange(streamer.http_port, request_bytes(path_of(publication.url), "Range: bytes=1-2",
                                                               version="HTTP/1.0", close=False))
    (response,) = parse_responses(raw)
    assert (response.status, response.body, response.closed) == (206, data[1:3], True)


@pytest.mark.asyncio
async def test_an_empty_file_is_served_and_any_range_of_it_is_unsatisfiable(streamer):
    streamer.media("empty.mov", 0)
    publication = await streamer.publish("empty.mov")
    async with httpx.AsyncClient() as client:
        whole = await get(client, publication.url)
        ranged = await get(client, publication.url, range="bytes=0-")
    assert (whole.status_code, whole.content, whole.headers["content-length"]) == (200, b"", "0")
    assert ranged.status_code == 416 and ranged.headers["content-range"] == "bytes */0"


@pytest.mark.asyncio
async def test_livez_answers_and_other_methods_get_405(published):
    streamer, publication, _, client = published
    assert (await client.get(f"{streamer.base}/livez")).text == "ok\n"
    response = await client.post(publication.url, content=b"")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


# --- publications: URLs, lifetimes, refusals ---

@pytest.mark.asyncio
async def test_urls_carry_an_unguessable_token_and_no_name_or_extension(published):
    streamer, publication, _, _ = published
    token = publication.url.rsplit("/t/", 1)[1]
    assert len(token) >= 22 and "." not in token and "Szene" not in publication.url  # ≥ 128 bits
    database = b"".join(path.read_bytes() for path in
                        (streamer.service.runtime.config.state_path / "streamer").glob("publications.sqlite*"))
    assert token.encode() not in database and hashlib.sha256(token.encode()).hexdigest().encode() in database


@pytest.mark.asyncio
async def test_revoked_publication_answers_410_at_once(published):
    streamer, publication, _, client = published
    assert (await get(client, publication.url, range="bytes=0-0")).status_code == 206
    await streamer.revoke(publication.ticket_id)
    assert (await get(client, publication.url)).status_code == 410
    assert (await get(client, publication.url, "HEAD")).status_code == 410
    again = await streamer.stub.GetPublication(streamer_pb2.GetPublicationRequest(ticket_id=publication.ticket_id))
    assert again.revoked


@pytest.mark.asyncio
async def test_expired_publication_answers_410(streamer):
    streamer.media("a.mov", 100)
    publication = await streamer.publish("a.mov", ttl_s=1)
    assert publication.expires_at.ToSeconds() <= time.time() + 1.5
    async with httpx.AsyncClient() as client:
        assert (await get(client, publication.url)).status_code == 200
        await wait_for(lambda: time.time() >= publication.expires_at.ToNanoseconds() / 1e9, timeout=3)
        response = await get(client, publication.url)
    assert response.status_code == 410 and b"expired" in response.content


@pytest.mark.asyncio
async def test_publications_survive_a_restart(tmp_path):
    config = streamer_config(tmp_path)
    first = await start_streamer(config)
    first.media("keep.mov", 5000, seed=9)
    publication = await first.publish("keep.mov")
    revoked = await first.publish("keep.mov")
    await first.revoke(revoked.ticket_id)
    await stop_streamer(first)
    second = await start_streamer(config)
    try:
        port_url = publication.url.replace(f":{first.http_port}/", f":{second.http_port}/")
        async with httpx.AsyncClient() as client:
            response = await get(client, port_url, range="bytes=0-99")
            gone = await get(client, revoked.url.replace(f":{first.http_port}/", f":{second.http_port}/"))
        assert response.status_code == 206 and response.content == (tmp_path / "watch/keep.mov").read_bytes()[:100]
        assert gone.status_code == 410
        kept = await second.stub.GetPublication(streamer_pb2.GetPublicationRequest(ticket_id=publication.ticket_id))
        assert kept.path == "keep.mov" and kept.size == 5000 and not kept.revoked
    finally:
        await stop_streamer(second)


def _symlink_out(root: Path) -> str:
    outside = root.parent / "outside.mov"
    outside.write_bytes(b"secret")
    (root / "escape.mov").symlink_to(outside)
    return "escape.mov"


def _dir_link_out(root: Path) -> str:
    (root.parent / "elsewhere").mkdir()
    (root.parent / "elsewhere" / "x.mov").write_bytes(b"secret")
    (root / "linkdir").symlink_to(root.parent / "elsewhere")
    return "linkdir/x.mov"


def _fifo(root: Path) -> str:
    os.mkfifo(root / "pipe.mov")
    return "pipe.mov"


def _directory(root: Path) -> str:
    (root / "folder.mov").mkdir()
    return "folder.mov"


@pytest.mark.parametrize(("make", "code"), [
    (_symlink_out, grpc.StatusCode.INVALID_ARGUMENT),
    (_dir_link_out, grpc.StatusCode.INVALID_ARGUMENT),
    (lambda root: "../outside.mov", grpc.StatusCode.INVALID_ARGUMENT),
    (lambda root: str(root / "a.mov"), grpc.StatusCode.INVALID_ARGUMENT),
    (_fifo, grpc.StatusCode.INVALID_ARGUMENT),
    (_directory, grpc.StatusCode.INVALID_ARGUMENT),
    (lambda root: "missing.mov", grpc.StatusCode.NOT_FOUND),
])
@pytest.mark.asyncio
async def test_publish_refuses_anything_but_a_regular_file_inside_the_root(streamer, make, code):
    streamer.media("a.mov", 10)
    (streamer.root.parent / "outside.mov").write_bytes(b"secret")
    path = make(streamer.root)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await streamer.stub.Publish(streamer_pb2.PublishRequest(path=path, size=6, mtime_ns=0), timeout=5)
    assert caught.value.code() == code


@pytest.mark.asyncio
@pytest.mark.parametrize("field", ["size", "mtime_ns"])
async def test_publish_refuses_a_file_that_differs_from_what_was_seen(streamer, field):
    streamer.media("a.mov", 10)
    st = (streamer.root / "a.mov").stat()
    request = streamer_pb2.PublishRequest(path="a.mov", size=st.st_size, mtime_ns=st.st_mtime_ns)
    setattr(request, field, getattr(request, field) + 1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await streamer.stub.Publish(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.asyncio
async def test_a_file_changed_after_publishing_is_not_served(published):
    streamer, publication, _, client = published
    with open(streamer.root / NAME, "ab") as grow:
        grow.write(b"more")
    response = await get(client, publication.url)
    assert response.status_code == 410 and len(response.content) < 100


# --- hostile requests ---

@pytest.mark.parametrize("path", [
    "/t/../../etc/passwd", "/t/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/../watch/SQ01/SH010/a.mov", "/t/", "/",
    "//etc/passwd", "/t/..%2f..%2fconfig.json", "/watch/SQ01", "/t/{token}/../../x", "/t/{token}.mov",
    "/t/{token}/", "/T/{token}", "/t/{token}%00",
])
@pytest.mark.asyncio
async def test_traversal_and_look_alike_paths_are_404(published, path):
    streamer, publication, _, _ = published
    token = publication.url.rsplit("/t/", 1)[1]
    raw = await raw_exchange(streamer.http_port, request_bytes(path.format(token=token)))
    (response,) = parse_responses(raw)
    assert response.status == 404 and len(response.body) < 100


@pytest.mark.asyncio
async def test_forged_tokens_are_404(published):
    streamer, publication, _, client = published
    token = publication.url.rsplit("/t/", 1)[1]
    forged = [secrets.token_urlsafe(24), token[:-1] + ("A" if token[-1] != "A" else "B"), token[:-2], token + "x"]
    for candidate in forged:
        assert (await get(client, f"{streamer.base}/t/{candidate}")).status_code == 404


@pytest.mark.parametrize("spec", ["bytes=5-2", "bytes=abc", "bytes=--1", "bytes=0-1x", "bytes=1-2-3", "bytes",
                                  "bytes=", "bytes=,,,", "bytes=١-٢"])
@pytest.mark.asyncio
async def test_malformed_ranges_are_400(published, spec):
    streamer, publication, _, _ = published
    raw = await raw_exchange(streamer.http_port, request_bytes(path_of(publication.url), f"Range: {spec}"))
    (response,) = parse_responses(raw)
    assert response.status == 400 and len(response.body) < 200


@pytest.mark.asyncio
async def test_thousands_of_ranges_are_refused_quickly(published):
    streamer, publication, _, client = published
    many = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 1500, 2))  # under the head limit, over max_ranges
    started = time.monotonic()
    response = await get(client, publication.url, range=many)
    assert response.status_code == 400 and b"more than 16 ranges" in response.content
    huge = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 20000, 2))  # over the head limit
    raw = await raw_exchange(streamer.http_port, request_bytes(path_of(publication.url), f"Range: {huge}"))
    assert parse_responses(raw)[0].status == 431
    assert time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_exactly_max_ranges_are_still_served(published):
    _, publication, data, client = published
    spec = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(16))
    response = await get(client, publication.url, range=spec)
    assert response.status_code == 206 and response.headers["content-type"].startswith("multipart/byteranges")
    assert response.content.count(b"Content-Range: bytes ") == 16


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /livez HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Flood-%d: y\r\n" % i for i in range(200)), 431),
    (b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000, 431),
    (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x", 414),
    (b"GARBAGE", 400),
    (b"GET /livez HTTP/9.9\r\nHost: x", 505),
    (b"GET /livez FTP/1.1\r\nHost: x", 400),
    (b"G(T /livez HTTP/1.1\r\nHost: x", 400),
    (b"GET  /livez HTTP/1.1\r\nHost: x", 400),
    (b"GET livez HTTP/1.1\r\nHost: x", 400),
    (b"GET /livez HTTP/1.1", 400),
    (b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b", 400),
    (b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n  folded", 400),
    (b"GET /livez HTTP/1.1\r\nHost : x", 400),
    (b"GET /livez HTTP/1.1\r\nHost: x\r\nHost: y", 400),
    (b"GET /livez HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nRange: bytes=2-3", 400),
    (b"GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 5", 400),
    (b"GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked", 400),
    (b"GET /livez HTTP/1.1\nHost: x\n", 400),
    (b"\xff\xfe GET /livez HTTP/1.1\r\nHost: x", 400),
])
@pytest.mark.asyncio
async def test_malformed_requests_get_a_4xx_and_a_closed_connection(streamer, head, status):
    raw = await raw_exchange(streamer.http_port, head + b"\r\n\r\n")
    (response,) = parse_responses(raw)
    assert response.status == status and response.closed


@pytest.mark.asyncio
async def test_a_slowloris_head_is_cut_off_at_the_head_deadline(streamer):
    """Trickling a byte at a time does not extend the head deadline (0.6 s in tests)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", streamer.http_port)
    started = time.monotonic()
    received = b""
    try:
        for byte in b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 200:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)
            if reader.at_eof() or time.monotonic() - started > 5:
                break
            try:
                received += await asyncio.wait_for(reader.read(4096), 0.001)
            except TimeoutError:
                pass
            if received:
                break
    except ConnectionError:
        pass
    finally:
        received += await reader.read()
        writer.close()
    assert received.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 2.5


@pytest.mark.asyncio
async def test_an_idle_connection_is_closed(streamer):
    reader, writer = await asyncio.open_connection("127.0.0.1", streamer.http_port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed without a word after 2 s
    assert 1.5 < time.monotonic() - started < 5
    writer.close()


@pytest.mark.asyncio
async def test_concurrent_requests_per_publication_are_bounded(tmp_path):
    config = streamer_config(tmp_path, {"max_connections_per_publication": 1})
    streamer = await start_streamer(config)
    try:
        streamer.media("big.mov", 64 * 1024 * 1024)
        publication = await streamer.publish("big.mov")
        reader, writer = await asyncio.open_connection("127.0.0.1", streamer.http_port, limit=1024)
        writer.write(request_bytes(path_of(publication.url)))
        await reader.readexactly(1024)  # the first GET is under way, and its reader is slow
        async with httpx.AsyncClient() as client:
            busy = await get(client, publication.url, range="bytes=0-0")
            writer.close()
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            await wait_for(lambda: not streamer.service.range_server.active_requests, message="slot freed")
            assert (await get(client, publication.url, range="bytes=0-0")).status_code == 206
    finally:
        await stop_streamer(streamer)
