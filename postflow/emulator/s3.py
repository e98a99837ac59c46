"""Local uploads: the pre-signed part URLs `files/local_upload` hands out, and the S3-like
endpoint they point at. Like Frame.io's, each part is its own pre-signed object URL,
`PUT /_s3/frameio-uploads/parts/<file id>/part_<N>?X-Amz-Algorithm=…&X-Amz-Content-Sha256=…
&X-Amz-Credential=…&X-Amz-Date=…&X-Amz-Expires=…&X-Amz-SignedHeaders=…&X-Amz-Security-Token=<~1 KB>
&X-Amz-Signature=…`,
about 1.5 KB long, valid for `upload_url_ttl_s`.

Parts are as in Frame.io's documented example: `ceil(size / upload_part_size)` of them (at most
`upload_max_parts`; beyond, parts grow), all of `ceil(size / count)` bytes but the last, which
takes the rest (a 50,645,990-byte file: 16,881,997 + 16,881,997 + 16,881,996 at 20 MiB).

A part is accepted only as S3 would accept the pre-signed URL: a valid, unexpired signature
(403 `AccessDenied` "Request has expired" once `X-Amz-Expires` has passed), the signed
headers `x-amz-acl: private` and `Content-Type` equal to the file's `media_type`
(application/octet-stream when it has none), and exactly the part's size in bytes; otherwise
403 with an S3 XML error (411 without a Content-Length). The `part_request_timeout` and
`part_url_expired` faults answer the next part PUTs 400 `RequestTimeout` / 403 expired. Parts
may come in any order and in parallel; the file's sha256 is taken in file order without
storing bytes (see digest.py), and the last byte starts the processing delay after which
the upload is complete. No "complete" call exists, as in Frame.io."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from postflow.emulator.digest import OrderedDigest, PieceError
from postflow.emulator.faults import Faults
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.responses import s3_error
from postflow.emulator.store import File, Part, Store

log = logging.getLogger(__name__)

BUCKET = "frameio-uploads"
SIGNED_HEADERS = "content-type;host;x-amz-acl"
OCTET_STREAM = "application/octet-stream"
SECURITY_TOKEN_BYTES = 780  # base64: ~1 KB, as an STS session token
PART_NAME = re.compile(r"^part_([1-9][0-9]*)$")


class S3Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def part_sizes(size: int, target: int, max_parts: int) -> list[int]:
    """`ceil(size / target)` parts (more bytes each if `max_parts` needs it), all equal but the
    last, as the SDK's uploader cuts a file (`ceil(size / len(upload_urls))` bytes each)."""
    count = max(1, math.ceil(size / max(target, math.ceil(size / max_parts))))
    chunk = math.ceil(size / count)
    while count > 1 and chunk * (count - 1) >= size:
        count -= 1
        chunk = math.ceil(size / count)
    return [chunk] * (count - 1) + [size - chunk * (count - 1)]


def content_type_of(file: File) -> str:
    return file.media_type or OCTET_STREAM


class PartUploads:
    def __init__(self, options: EmulatorOptions, store: Store, faults: Faults) -> None:
        self._options = options
        self._store = store
        self._faults = faults
        self._key = secrets.token_bytes(32)
        self._access_key = "ASIA" + secrets.token_hex(8).upper()

    def _signature(self, file: File, part_number: str, amz_date: str, expires: str, token: str) -> str:
        message = "\n".join([file.id, file.upload.upload_id, part_number, amz_date, expires, content_type_of(file),
                              token])
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def open(self, file: File, base_url: str) -> list[dict]:
        """Plans `file`'s parts and returns its `upload_urls` (`[{size, url}]`)."""
        sizes = part_sizes(file.file_size, self._options.upload_part_size, self._options.upload_max_parts)
        file.upload.parts = [Part(size) for size in sizes]
        file.upload.digest = OrderedDigest(len(sizes), hold_limit=self._options.s3_reorder_buffer_bytes)
        token = base64.b64encode(secrets.token_bytes(SECURITY_TOKEN_BYTES)).decode()
        now = datetime.now(UTC)
        amz_date, expires = now.strftime("%Y%m%dT%H%M%SZ"), str(self._options.upload_url_ttl_s)
        prefix = f"{base_url.rstrip('/')}/_s3/{BUCKET}/parts/{file.id}"
        query = urlencode({  # the same for every part but the signature
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
            "X-Amz-Credential": f"{self._access_key}/{now:%Y%m%d}/us-east-1/s3/aws4_request",
            "X-Amz-Date": amz_date, "X-Amz-Expires": expires, "X-Amz-SignedHeaders": SIGNED_HEADERS,
            "X-Amz-Security-Token": token}, quote_via=quote)
        return [{"size": size, "url": f"{prefix}/part_{number}?{query}&X-Amz-Signature="
                                      f"{self._signature(file, str(number), amz_date, expires, token)}"}
                for number, size in enumerate(sizes, start=1)]

    def _authorize(self, request: Request) -> tuple[File, int]:
        """The file and part index a PUT may write, or S3Refusal."""
        query = request.query_params
        file = self._store.assets.get(request.path_params["key"])
        name = PART_NAME.match(request.path_params["part"])
        amz_date, expires = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        if not isinstance(file, File) or not file.upload.parts or name is None:
            raise S3Refusal(404, "NoSuchUpload", "The specified upload does not exist.")
        number = name.group(1)
        signature = self._signature(file, number, amz_date, expires, query.get("X-Amz-Security-Token", ""))
        if not hmac.compare_digest(query.get("X-Amz-Signature", "").encode(), signature.encode()):
            raise S3Refusal(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                                                          "the signature you provided.")
        issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        if time.time() > issued + int(expires):
            raise S3Refusal(403, "AccessDenied", "Request has expired")
        if int(number) > len(file.upload.parts):
            raise S3Refusal(404, "NoSuchUpload", "The specified upload does not exist.")
        return file, int(number) - 1

    @staticmethod
    def _check_headers(request: Request, file: File, part: Part) -> None:
        headers = request.headers
        if headers.get("x-amz-acl") != "private":
            raise S3Refusal(403, "SignatureDoesNotMatch", "x-amz-acl is a signed header and must be 'private'")
        if headers.get("content-type") != content_type_of(file):
            raise S3Refusal(403, "SignatureDoesNotMatch",
                            f"Content-Type is a signed header and must be {content_type_of(file)!r}")
        length = headers.get("content-length")
        if length is None:
            raise S3Refusal(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if length != str(part.size):
            raise S3Refusal(403, "SignatureDoesNotMatch", f"this part must be exactly {part.size} bytes, not {length}")

    async def put_part(self, request: Request) -> Response:
        try:
            file, index = self._authorize(request)
            part = file.upload.parts[index]
            self._check_headers(request, file, part)
            if part.state == "receiving":
                raise S3Refusal(503, "SlowDown", "This part is being written; reduce your request rate.")
        except S3Refusal as refusal:
            return s3_error(refusal.status, refusal.code, refusal.message)
        injected = self._faults.part_put_refusal()
        if injected is not None:
            await drain(request)
            return s3_error(*injected)
        md5 = hashlib.md5()
        digest = file.upload.digest
        assert digest is not None, "a local upload's digest is made with its parts"

        async def body():
            async for chunk in request.stream():
                md5.update(chunk)
                yield chunk

        if part.state == "stored":  # S3 lets a part be written again; its bytes were already hashed
            async for _ in body():
                pass
            return Response(status_code=200, headers={"ETag": f'"{md5.hexdigest()}"'})
        part.state = "receiving"
        try:
            await digest.feed(index, part.size, body(), wait_s=self._options.s3_part_wait_s)
        except PieceError as exc:
            part.state = "pending"
            return s3_error(503, "SlowDown", str(exc))
        except ClientDisconnect:
            part.state = "pending"
            log.info("local upload %s: part %d sender hung up", file.id, index + 1)
            return Response(status_code=400)
        part.state, part.md5 = "stored", md5.hexdigest()
        if digest.complete and file.id in self._store.assets:
            self._store.complete_upload(file, digest.hexdigest(), self._faults.processing_delay(self._options))
            log.info("local upload %s complete: %d bytes in %d parts", file.id, file.file_size, len(file.upload.parts))
        return Response(status_code=200, headers={"ETag": f'"{part.md5}"'})

    def routes(self) -> list[Route]:
        return [Route(f"/_s3/{BUCKET}/parts/{{key}}/{{part}}", self.put_part, methods=["PUT"])]


async def drain(request: Request) -> None:
    """Reads and drops a request body (so the client hears the answer), whether or not it all comes."""
    try:
        async for _ in request.stream():
            pass
    except ClientDisconnect:
        pass
