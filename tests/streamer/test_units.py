"""The pure parts of the streamer: Range parsing, coverage, request heads, milestones, what
storage's refusal of a part means, and the batches a push's part URLs travel in."""

from __future__ import annotations

import httpx
import pytest

from postflow.core.http import content_disposition
from postflow.core.rpc import MAX_REQUEST_BYTES
from postflow.push_requests import BATCH_BYTES, push_requests
from postflow.v1 import streamer_pb2
from services.streamer.coverage import Coverage, Milestones, RateMeter
from services.streamer.http_request import BadRequest, HeadLimits, parse_head
from services.streamer.push import StorageAnswer
from services.streamer.ranges import (
    ByteRange,
    MalformedRange,
    UnsatisfiableRange,
    if_range_matches,
    multipart_plan,
    parse_range,
)
from services.streamer.response_plan import describe, plan_response


@pytest.mark.parametrize(("header", "expected"), [
    (None, None),
    ("items=0-5", None),
    ("bytes=0-4", [ByteRange(0, 4)]),
    ("bytes=-3", [ByteRange(97, 99)]),
    ("bytes=95-", [ByteRange(95, 99)]),
    ("bytes=90-1000", [ByteRange(90, 99)]),
    ("bytes=200-300, 0-0", [ByteRange(0, 0)]),  # the unsatisfiable one is dropped
    ("bytes=10-19,0-9,20-29", [ByteRange(0, 29)]),  # adjacent ones merge
    ("bytes=50-60,10-20", [ByteRange(10, 20), ByteRange(50, 60)]),
    ("bytes=0-0,,  ,2-2", [ByteRange(0, 0), ByteRange(2, 2)]),  # empty list elements are ignored
])
def test_parse_range(header, expected):
    assert parse_range(header, 100, max_ranges=4) == expected


@pytest.mark.parametrize("header", ["bytes=5-1", "bytes=x-1", "bytes=1", "bytes=", "0-1", "bytes=0-1,2-3,4-5,6-7,8-9",
                                    "bytes=+1-2", "bytes=1-+2", "bytes=0x1-2"])
def test_malformed_ranges(header):
    with pytest.raises(MalformedRange):
        parse_range(header, 100, max_ranges=4)


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=1000-2000", "bytes=" + "9" * 400 + "-"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, 100, max_ranges=4)


def test_huge_numbers_are_not_parsed_into_huge_ints():
    assert parse_range("bytes=0-" + "9" * 5000, 100, 4) == [ByteRange(0, 99)]
    assert parse_range("bytes=-" + "9" * 5000, 100, 4) == [ByteRange(0, 99)]


def test_if_range():
    etag = '"a-b-c"'
    assert if_range_matches(None, etag, 0)
    assert if_range_matches(etag, etag, 0)
    assert not if_range_matches('W/"a-b-c"', etag, 0)
    assert not if_range_matches('"other"', etag, 0)
    assert if_range_matches("Thu, 01 Jan 1970 00:01:40 GMT", etag, 100)
    assert not if_range_matches("Thu, 01 Jan 1970 00:01:41 GMT", etag, 100)
    assert not if_range_matches("yesterday", etag, 100)


def test_multipart_plan_length_matches_its_pieces():
    plan = multipart_plan([ByteRange(0, 1), ByteRange(5, 9)], 10, "video/mp4", "BOUNDARY")
    literal = b"".join(p if isinstance(p, bytes) else b"x" * p.length for p in plan.pieces)
    assert plan.content_length == len(literal)
    assert literal.startswith(b"--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/10\r\n\r\nxx\r\n")
    assert literal.endswith(b"xxxxx\r\n--BOUNDARY--\r\n")


def test_plan_response_for_a_head_ignores_range(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x" * 100)
    st = (tmp_path / "a.mp4").stat()
    plan = plan_response("HEAD", {"range": "bytes=0-1"}, describe("a.mp4", st.st_size, st.st_mtime_ns, st.st_ino), 16)
    assert plan.status == 200 and ("Content-Length", "100") in plan.headers
    assert b"\r\nContent-Type: video/mp4\r\n" in plan.fields


def test_content_disposition_keeps_the_name_and_escapes_quotes():
    assert content_disposition('a"b\\c.mov') == "attachment; filename=\"a_b_c.mov\"; filename*=UTF-8''a%22b%5Cc.mov"


def test_coverage_counts_each_byte_once():
    coverage = Coverage()
    assert coverage.add(10, 20) == 10
    assert coverage.add(15, 25) == 5
    assert coverage.add(0, 5) == 5
    assert coverage.add(0, 30) == 10
    assert coverage.add(0, 30) == 0
    assert coverage.intervals == [(0, 30)]
    assert coverage.add(40, 50) == 10 and coverage.add(30, 40) == 10
    assert coverage.intervals == [(0, 50)] and coverage.covered == 50
    assert coverage.add(7, 7) == 0


def test_coverage_of_scattered_ranges():
    coverage = Coverage()
    for start in range(0, 1000, 20):
        coverage.add(start, start + 10)
    assert coverage.covered == 500 and len(coverage.intervals) == 50
    assert coverage.add(0, 1000) == 500 and coverage.intervals == [(0, 1000)]


def test_milestones_pass_once_each():
    marks = Milestones(100)
    assert marks.passed(10) == []
    assert marks.passed(60) == [25, 50]
    assert marks.passed(60) == []
    assert marks.passed(100) == [75]


def test_rate_meter_reports_bytes_per_second():
    now = [0.0]
    meter = RateMeter(window_s=3.0, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 0.5
        meter.add(1000)
    assert meter.rate() == pytest.approx(2000, rel=0.01)
    now[0] += 10
    assert meter.rate() == 0.0


def test_parse_head_reads_fields_case_insensitively():
    request = parse_head(b"GET /t/abc?x=1 HTTP/1.1\r\nHost: a\r\nRANGE:  bytes=0-1 \r\nAccept: a\r\nAccept: b",
                         HeadLimits())
    assert (request.method, request.path, request.version) == ("GET", "/t/abc", "HTTP/1.1")
    assert request.headers == {"host": "a", "range": "bytes=0-1", "accept": "a, b"}
    assert request.keep_alive
    assert not parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close", HeadLimits()).keep_alive
    assert parse_head(b"GET http://example.com/t/x HTTP/1.1\r\nHost: a", HeadLimits()).path == "/t/x"


@pytest.mark.parametrize(("head", "status"), [
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 70 + b"Host: a", 431),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a", 414),
    (b"GET * HTTP/1.1\r\nHost: a", 400),
])
def test_parse_head_limits(head, status):
    with pytest.raises(BadRequest) as caught:
        parse_head(head, HeadLimits())
    assert caught.value.status == status


def s3_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, text=f'<?xml version="1.0" encoding="UTF-8"?>\n'
                                        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>")


@pytest.mark.parametrize(("response", "retryable", "expired"), [
    (s3_error(400, "RequestTimeout", "Your socket connection to the server was not read from or written to within "
                                     "the timeout period."), True, False),
    (s3_error(503, "SlowDown", "Please reduce your request rate."), True, False),
    (httpx.Response(502, text="<html>Bad Gateway</html>"), True, False),
    (s3_error(403, "AccessDenied", "Request has expired"), False, True),
    (s3_error(400, "ExpiredToken", "The provided token has expired."), False, True),
    (s3_error(403, "AccessDenied", "Access Denied"), False, False),
    (s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match"), False, False),
    (s3_error(400, "BadDigest", "The Content-MD5 you specified did not match what we received."), False, False),
    (httpx.Response(400, text=""), False, False),
])
def test_what_a_refused_part_means(response, retryable, expired):
    answer = StorageAnswer.of(response)
    assert (answer.retryable, answer.url_expired) == (retryable, expired)


def test_a_refusal_reads_as_status_code_and_message():
    assert str(StorageAnswer.of(s3_error(403, "AccessDenied", "Request has expired"))) == \
        "HTTP 403 AccessDenied: Request has expired"
    assert str(StorageAnswer.of(httpx.Response(502, text=""))) == "HTTP 502"


def test_part_urls_travel_in_batches_well_under_the_message_limit():
    parts = [streamer_pb2.UploadPart(size=7, url=f"https://s3.example/parts/f/part_{n}?{'t' * 1500}")
             for n in range(1, 3001)]
    header = streamer_pb2.PushHeader(path="a.mov", size=21_000)
    first, *batches = push_requests(header, parts)
    assert first.header.part_count == 3000 and header.part_count == 0  # the caller's header is left alone
    assert [p for b in batches for p in b.parts.parts] == parts
    assert len(batches) > 1 and all(b.ByteSize() <= BATCH_BYTES + 16 for b in batches)
    assert BATCH_BYTES * 8 <= MAX_REQUEST_BYTES


def test_a_part_larger_than_a_batch_travels_alone():
    parts = [streamer_pb2.UploadPart(size=1, url="https://s3.example/" + "t" * BATCH_BYTES),
             streamer_pb2.UploadPart(size=1, url="https://s3.example/b")]
    _, *batches = push_requests(streamer_pb2.PushHeader(size=2), parts)
    assert [len(b.parts.parts) for b in batches] == [1, 1]
