"""Uploads as strict as Frame.io: presigned per-part object URLs as long as real ones, part
sizes as in the documented example, as many part URLs as small parts need, processing time
between the last byte (pushed or pulled) and `upload_complete`, and S3's transient
`RequestTimeout` (400) and expired-URL (403) answers to part PUTs."""

from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
from frameio.files import FileCreateLocalUploadParamsData
from frameio.types import FileWithUploadUrlsResponse

from postflow.emulator.options import EmulatorOptions
from postflow.testing.emulator import emulator_file, set_faults, upload_finished
from postflow.testing.frameio_sdk import remote_upload
from postflow.testing.polling import wait_for

OCTET = {"x-amz-acl": "private", "content-type": "application/octet-stream"}
QUERY_ORDER = ["X-Amz-Algorithm", "X-Amz-Content-Sha256", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
               "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature"]


async def local_upload(sdk, seeded, size: int, name: str = "notes.bin"):
    return await sdk.files.create_local_upload(seeded["account_id"], seeded["root_folder_id"],
                                                data=FileCreateLocalUploadParamsData(name=name, file_size=size))


def s3_code(response: httpx.Response) -> str | None:
    return ElementTree.fromstring(response.text).findtext("Code")


@pytest.mark.asyncio
async def test_the_documented_example_gets_three_equal_parts_at_presigned_urls_of_real_length(sdk, responses,
                                                                                              seeded):
    created = await local_upload(sdk, seeded, 50_645_990, "sample.mp4")
    urls = responses.parse(FileWithUploadUrlsResponse).data.upload_urls
    assert [part.size for part in urls] == [16_881_997, 16_881_997, 16_881_996]
    for number, part in enumerate(urls, start=1):
        url = urlsplit(part.url)
        assert url.path == f"/_s3/frameio-uploads/parts/{created.data.id}/part_{number}"
        query = parse_qsl(url.query)
        assert [key for key, _ in query] == QUERY_ORDER
        assert len(dict(query)["X-Amz-Security-Token"]) >= 1000
        assert 1400 <= len(part.url) <= 1700, len(part.url)


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=1, rate_limits=False)])
async def test_small_parts_give_ten_thousand_long_part_urls(sdk, seeded):
    created = await local_upload(sdk, seeded, 10_000)
    urls = created.data.upload_urls
    assert len(urls) == 10_000 and {part.size for part in urls} == {1}
    assert min(len(part.url) for part in urls) >= 1400


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=1, upload_max_parts=4, rate_limits=False)])
async def test_beyond_the_part_cap_parts_grow(sdk, seeded):
    created = await local_upload(sdk, seeded, 10)
    assert [part.size for part in created.data.upload_urls] == [3, 3, 3, 1]


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=1000, transcode_delay_s=0.2)])
async def test_a_pushed_file_stays_created_until_the_processing_delay_after_its_last_part(sdk, http, emulator,
                                                                                         seeded):
    await set_faults(emulator.url, {"processing_delay_s": 1.5})
    created = await local_upload(sdk, seeded, 2000)
    for part in created.data.upload_urls:
        assert (await http.put(part.url, content=b"p" * part.size, headers=OCTET)).status_code == 200
    account_id, file_id = seeded["account_id"], created.data.id
    report = await emulator_file(emulator.url, file_id)
    assert report["parts"] == {"count": 2, "stored": 2} and report["last_byte_at"] and report["sha256"]
    status = await sdk.files.show_file_upload_status(account_id, file_id)
    assert not status.data.upload_complete and not status.data.upload_failed
    assert status.data.upload_completed_at is None
    assert (await sdk.files.show(account_id, file_id)).data.status == "created"
    assert not report["upload_complete"]

    async def completed() -> bool:
        return (await sdk.files.show_file_upload_status(account_id, file_id)).data.upload_complete

    await wait_for(completed, timeout=10, interval=0.1, message="upload_complete after the processing delay")
    await wait_for(lambda: _status(sdk, account_id, file_id, "transcoded"), timeout=5, interval=0.05,
                   message="transcoded after the transcode delay")


async def _status(sdk, account_id: str, file_id: str, expected: str) -> bool:
    return (await sdk.files.show(account_id, file_id)).data.status == expected


@pytest.mark.asyncio
async def test_a_pulled_file_stays_created_until_the_processing_delay_after_its_last_byte(sdk, emulator, seeded,
                                                                                        source, media):
    await set_faults(emulator.url, {"processing_delay_s": 1.5})
    created = await remote_upload(sdk, seeded, source.url("/tiny.mp4"), "tiny.mp4")
    file_id = created.data.id
    pulled = await wait_for(lambda: _pulled(emulator, file_id), timeout=10, interval=0.02,
                            message="the pull to fetch the last byte")
    assert pulled["sha256"] == media["tiny.mp4"][1] and not pulled["upload_complete"]
    status = await sdk.files.show_file_upload_status(seeded["account_id"], file_id)
    assert not status.data.upload_complete
    assert (await sdk.files.show(seeded["account_id"], file_id)).data.status == "created"
    report = await upload_finished(emulator.url, file_id)
    assert report["upload_complete"] and report["status"] in ("uploaded", "transcoded")


async def _pulled(emulator, file_id: str) -> dict | None:
    report = await emulator_file(emulator.url, file_id)
    return report if report["last_byte_at"] else None


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(processing_delay_s=60, upload_part_size=1000)])
async def test_the_processing_delay_is_a_start_option(sdk, http, emulator, seeded):
    created = await local_upload(sdk, seeded, 10)
    assert (await http.put(created.data.upload_urls[0].url, content=b"x" * 10, headers=OCTET)).status_code == 200
    report = await emulator_file(emulator.url, created.data.id)
    assert report["last_byte_at"] and not report["upload_complete"] and report["status"] == "created"


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=1000, processing_delay_s=0)])
async def test_part_faults_answer_like_s3_then_the_same_url_works(sdk, http, emulator, seeded):
    await set_faults(emulator.url, {"part_request_timeout": {"count": 2}, "part_url_expired": {"count": 1}})
    created = await local_upload(sdk, seeded, 1000)
    url = created.data.upload_urls[0].url
    answers = [await http.put(url, content=b"z" * 1000, headers=OCTET) for _ in range(4)]
    assert [(r.status_code, s3_code(r)) for r in answers[:3]] == [
        (400, "RequestTimeout"), (400, "RequestTimeout"), (403, "AccessDenied")]
    assert "Request has expired" in answers[2].text and answers[0].headers["content-type"] == "application/xml"
    assert answers[3].status_code == 200, "the faults are used up"
    report = await upload_finished(emulator.url, created.data.id)
    assert report["upload_complete"] and report["parts"] == {"count": 1, "stored": 1}
    faults = (await http.get(f"{emulator.url}/_emulator/faults")).json()
    assert faults["part_request_timeout"] == {"count": 0} and faults["part_url_expired"] == {"count": 0}


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(upload_part_size=1000)])
async def test_a_part_refused_by_a_fault_is_not_stored(sdk, http, emulator, seeded):
    await set_faults(emulator.url, {"part_url_expired": {"count": 1}})
    created = await local_upload(sdk, seeded, 1000)
    refused = await http.put(created.data.upload_urls[0].url, content=b"z" * 1000, headers=OCTET)
    assert refused.status_code == 403
    report = await emulator_file(emulator.url, created.data.id)
    assert report["parts"] == {"count": 1, "stored": 0} and report["last_byte_at"] is None
