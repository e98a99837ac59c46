"""Getting bytes into the emulator, both ways Frame.io offers: remote upload (its puller
fetches a `source_url` from a local Range server) and local upload (pre-signed part PUTs,
here by the official SDK's own uploader)."""

import asyncio
import hashlib
import math
from xml.etree import ElementTree

import httpx
import pytest
from frameio.errors import BadRequestError, NotFoundError, UnprocessableEntityError
from frameio.files import FileCreateLocalUploadParamsData
from frameio.folders import FolderCreateParamsData
from frameio.types import (
    FileRemoteUploadResponse,
    FileUploadStatusResponse,
    FileWithIncludesResponse,
    FileWithUploadUrlsResponse,
)
from frameio.upload import FrameioUploader

from postflow.emulator.options import EmulatorOptions
from postflow.testing.emulator import set_faults, upload_finished
from postflow.testing.file_server import RangeServer
from postflow.testing.frameio_sdk import remote_upload
from postflow.testing.polling import wait_for

KIB = 1024


@pytest.mark.asyncio
async def test_remote_upload_goes_created_uploaded_transcoded_with_the_exact_bytes(sdk, responses, emulator,
                                                                                   seeded, source, media):
    path, digest = media["clip.mov"]
    created = await remote_upload(sdk, seeded, source.url("/clip.mov"))
    assert responses.last.status_code == 202
    body = responses.parse(FileRemoteUploadResponse)
    assert body.data.status == "created" and body.data.file_size == path.stat().st_size
    assert body.data.media_type == "video/quicktime"
    assert body.links["status"] == f"/v4/accounts/{seeded['account_id']}/files/{created.data.id}/status"

    report = await upload_finished(emulator.url, created.data.id)
    assert report["upload_complete"] and report["sha256"] == digest and report["bytes_received"] == report["size"]
    status = await sdk.files.show_file_upload_status(seeded["account_id"], created.data.id)
    assert responses.parse(FileUploadStatusResponse).data.upload_complete is True
    assert status.data.upload_failed is False and status.data.upload_completed_at >= status.data.uploaded_at

    shown = await sdk.files.show(seeded["account_id"], created.data.id)
    assert responses.parse(FileWithIncludesResponse).data.status in ("uploaded", "transcoded")
    assert shown.data.view_url.endswith(created.data.id)

    async def transcoded() -> bool:
        return (await sdk.files.show(seeded["account_id"], created.data.id)).data.status == "transcoded"

    await wait_for(transcoded, timeout=5, interval=0.05, message="transcoded")
    pulled = [r for r in source.requests if r["method"] == "GET"]
    assert {r["user_agent"] for r in source.requests} == {report["pull"]["user_agent"]}
    assert len(pulled) == report["pull"]["requests"] - 1, "every GET the source saw is recorded (plus the HEAD)"


@pytest.mark.asyncio
async def test_remote_upload_reports_the_folder_path(sdk, emulator, seeded, source, media):
    account_id = seeded["account_id"]
    sq = (await sdk.folders.create(account_id, seeded["root_folder_id"], data=FolderCreateParamsData(name="SQ01"))).data
    sh = (await sdk.folders.create(account_id, sq.id, data=FolderCreateParamsData(name="SH010"))).data
    created = await remote_upload(sdk, seeded, source.url("/tiny.mp4"), "SQ01_SH010_v003.mp4", sh.id)
    report = await upload_finished(emulator.url, created.data.id)
    assert report["folder_path"] == "SQ01/SH010" and report["sha256"] == media["tiny.mp4"][1]


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(remote_upload_max_bytes=100_000, rate_limits=False)])
async def test_remote_upload_refuses_bad_sources_before_creating_anything(sdk, http, emulator, seeded, source):
    """Malformed URLs are an invalid body (422); a source that cannot be read or is over the
    limit is 400 by default and 422 under the `remote_upload_refusal` fault."""
    for url in ("ftp://127.0.0.1/clip.mov", "not a url"):
        with pytest.raises(UnprocessableEntityError) as malformed:
            await remote_upload(sdk, seeded, url)
        assert "http or https" in malformed.value.body["errors"][0]["detail"]
    refused = [(source.url("/missing"), "HTTP 404"), ("http://127.0.0.1:9/x", "ConnectError"),
               (source.url("/clip.mov"), "at most 100000")]
    for fault, error_class in [(None, BadRequestError), (422, UnprocessableEntityError), (400, BadRequestError)]:
        await set_faults(emulator.url, {"remote_upload_refusal": fault})
        for url, expected in refused:
            with pytest.raises(error_class) as refusal:
                await remote_upload(sdk, seeded, url)
            body = refusal.value.body  # a 400 parses into the SDK's BadRequest model, a 422 stays a dict
            error = body["errors"][0] if isinstance(body, dict) else body.dict()["errors"][0]
            assert expected in error["detail"] and error["source"]["pointer"] == "/data/source_url", url
    with pytest.raises(NotFoundError):
        await remote_upload(sdk, seeded, source.url("/tiny.mp4"), folder_id="0" * 8)
    assert (await http.get(f"{emulator.url}/_emulator/files")).json()["files"] == []


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(remote_upload_refusal=422, rate_limits=False)])
async def test_remote_upload_refusal_status_is_a_start_option(sdk, seeded):
    with pytest.raises(UnprocessableEntityError):
        await remote_upload(sdk, seeded, "http://127.0.0.1:9/x")


@pytest.mark.asyncio
async def test_probe_falls_back_to_a_one_byte_range_when_head_is_refused(sdk, emulator, seeded, media):
    path, digest = media["odd.bin"]
    with RangeServer({"/odd": path}, head=False) as source:
        created = await remote_upload(sdk, seeded, source.url("/odd"), "odd.bin")
        assert created.data.file_size == path.stat().st_size
        report = await upload_finished(emulator.url, created.data.id)
    assert report["sha256"] == digest
    probe = report["pull"]["request_log"][:2]
    assert [(r["method"], r["range"], r["status"]) for r in probe] == [("HEAD", None, 405), ("GET", "bytes=0-0", 206)]


@pytest.mark.asyncio
async def test_a_source_without_ranges_is_pulled_by_one_plain_get(sdk, emulator, seeded, media):
    path, digest = media["clip.mov"]
    with RangeServer({"/clip": path}, ranges=False) as source:
        created = await remote_upload(sdk, seeded, source.url("/clip"))
        report = await upload_finished(emulator.url, created.data.id)
    assert report["sha256"] == digest
    assert report["pull"]["strategy"] == "single" and report["pull"]["ranges"] == []
    assert [r["range"] for r in source.requests] == [None, None]


@pytest.mark.asyncio
async def test_pull_strategy_fault_sets_single_get_or_parallel_ranges(sdk, emulator, seeded, source, media):
    path, digest = media["clip.mov"]
    size = path.stat().st_size
    await set_faults(emulator.url, {"pull_strategy": {"mode": "ranges", "chunk_size": 256 * KIB, "parallelism": 3}})
    ranged = await upload_finished(emulator.url, (await remote_upload(sdk, seeded, source.url("/clip.mov"))).data.id)
    chunks = math.ceil(size / (256 * KIB))
    assert ranged["sha256"] == digest and ranged["pull"]["parallelism"] == 3
    assert sorted(ranged["pull"]["ranges"], key=lambda r: int(r[6:].split("-")[0])) == [
        f"bytes={start}-{min(start + 256 * KIB, size) - 1}" for start in range(0, size, 256 * KIB)]
    assert len(ranged["pull"]["ranges"]) == chunks

    await set_faults(emulator.url, {"pull_strategy": {"mode": "single"}})
    single = await upload_finished(emulator.url, (await remote_upload(sdk, seeded, source.url("/clip.mov"))).data.id)
    assert single["sha256"] == digest and single["pull"]["strategy"] == "single"
    assert [r["range"] for r in single["pull"]["request_log"]] == [None, None], "a HEAD, then one plain GET"


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=256 * KIB, transcode_delay_s=0.3)])
async def test_local_upload_by_the_sdks_uploader_in_parallel_parts(sdk, responses, emulator, seeded, media):
    path, digest = media["clip.mov"]
    size = path.stat().st_size
    created = await sdk.files.create_local_upload(seeded["account_id"], seeded["root_folder_id"],
                                                  data=FileCreateLocalUploadParamsData(name="clip.mov", file_size=size))
    assert responses.last.status_code == 201
    body = responses.parse(FileWithUploadUrlsResponse).data
    sizes = [part.size for part in body.upload_urls]
    assert len(sizes) == math.ceil(size / (256 * KIB)) and sum(sizes) == size
    assert set(sizes[:-1]) == {math.ceil(size / len(sizes))}, "equal parts but the last, as the SDK cuts them"
    assert body.status == "created" and body.media_type == "video/quicktime"

    with open(path, "rb") as source:
        await asyncio.to_thread(FrameioUploader(created.data, source, max_workers=5).upload)
    report = await upload_finished(emulator.url, created.data.id)
    assert report["sha256"] == digest and report["parts"] == {"count": len(sizes), "stored": len(sizes)}
    status = await sdk.files.show_file_upload_status(seeded["account_id"], created.data.id)
    assert status.data.upload_complete


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=1000)])
async def test_part_puts_are_checked_like_a_presigned_s3_url(sdk, http, emulator, seeded):
    created = await sdk.files.create_local_upload(seeded["account_id"], seeded["root_folder_id"],
                                                  data=FileCreateLocalUploadParamsData(name="notes.xyz",
                                                                                       file_size=1500))
    first, second = created.data.upload_urls
    assert created.data.media_type is None and (first.size, second.size) == (750, 750)
    good = {"x-amz-acl": "private", "content-type": "application/octet-stream"}

    def code(response: httpx.Response) -> str:
        return ElementTree.fromstring(response.text).findtext("Code")

    async def chunked():  # no Content-Length
        yield b"a" * 750

    refusals = [
        (await http.put(first.url, content=b"a" * 750, headers={"content-type": "application/octet-stream"}), 403),
        (await http.put(first.url, content=b"a" * 750, headers={**good, "content-type": "video/mp4"}), 403),
        (await http.put(first.url, content=b"a" * 749, headers=good), 403),
        (await http.put(first.url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), content=b"a" * 750,
                        headers=good), 403),
        (await http.put(first.url, content=chunked(), headers=good), 411),
    ]
    for response, status in refusals:
        assert response.status_code == status and code(response), response.text
    assert {code(r) for r, _ in refusals} == {"SignatureDoesNotMatch", "MissingContentLength"}

    assert (await http.put(second.url, content=b"b" * 750, headers=good)).status_code == 200, "parts in any order"
    stored = await http.put(first.url, content=b"a" * 750, headers=good)
    assert stored.status_code == 200 and stored.headers["etag"].strip('"')
    report = await upload_finished(emulator.url, created.data.id)
    assert report["sha256"] == hashlib.sha256(b"a" * 750 + b"b" * 750).hexdigest()
    again = await http.put(first.url, content=b"a" * 750, headers=good)
    assert again.status_code == 200, "S3 lets a part be written again"


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_url_ttl_s=-1)])
async def test_an_expired_part_url_is_refused(sdk, http, seeded):
    created = await sdk.files.create_local_upload(seeded["account_id"], seeded["root_folder_id"],
                                                  data=FileCreateLocalUploadParamsData(name="a.mov", file_size=10))
    expired = await http.put(created.data.upload_urls[0].url, content=b"0" * 10,
                             headers={"x-amz-acl": "private", "content-type": "video/quicktime"})
    assert expired.status_code == 403 and "expired" in expired.text


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=256 * KIB, s3_reorder_buffer_bytes=0)])
async def test_parallel_parts_wait_their_turn_when_nothing_may_be_held(sdk, emulator, seeded, media):
    path, digest = media["clip.mov"]
    created = await sdk.files.create_local_upload(seeded["account_id"], seeded["root_folder_id"], data=(
        FileCreateLocalUploadParamsData(name="clip.mov", file_size=path.stat().st_size)))
    with open(path, "rb") as source:
        await asyncio.to_thread(FrameioUploader(created.data, source, max_workers=5).upload)
    assert (await upload_finished(emulator.url, created.data.id))["sha256"] == digest


@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=1000, s3_reorder_buffer_bytes=0,
                                                     s3_part_wait_s=0.05)])
@pytest.mark.asyncio
async def test_an_early_part_with_no_room_is_told_to_slow_down(sdk, http, emulator, seeded):
    created = await sdk.files.create_local_upload(seeded["account_id"], seeded["root_folder_id"],
                                                  data=FileCreateLocalUploadParamsData(name="a.mov", file_size=2000))
    first, second = created.data.upload_urls
    headers = {"x-amz-acl": "private", "content-type": "video/quicktime"}
    early = await http.put(second.url, content=b"2" * 1000, headers=headers)
    assert early.status_code == 503 and "<Code>SlowDown</Code>" in early.text
    for part, fill in ((first, b"1"), (second, b"2")):
        assert (await http.put(part.url, content=fill * 1000, headers=headers)).status_code == 200
    report = await upload_finished(emulator.url, created.data.id)
    assert report["sha256"] == hashlib.sha256(b"1" * 1000 + b"2" * 1000).hexdigest()
