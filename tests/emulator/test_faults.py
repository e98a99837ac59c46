"""Faults injected through `/_emulator/faults`: 429 bursts, 5xx on the n-th call, puller
hang-ups mid-file (once: the resumed pull succeeds; always: the upload fails with a
reason) and slow pulls. Token lifetimes and refresh-token reuse are in test_ims.py."""

import time

import pytest
from frameio.core.api_error import ApiError
from frameio.errors import TooManyRequestsError

from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from postflow.testing.emulator import set_faults, upload_finished
from postflow.testing.frameio_sdk import NO_RETRIES, remote_upload

MIB = 1024 * 1024


@pytest.mark.asyncio
async def test_429_burst_answers_the_next_calls_then_recovers(sdk, emulator, seeded):
    await set_faults(emulator.url, {"rate_limit_burst": {"count": 2, "path": "/v4/me", "retry_after": 3}})
    assert (await sdk.accounts.index()).items, "other paths are not hit"
    for _ in range(2):
        with pytest.raises(TooManyRequestsError) as limited:
            await sdk.users.show(request_options=NO_RETRIES)
        assert limited.value.headers["retry-after"] == "3"
        assert limited.value.body.errors[0].title == "Too Many Requests"
    assert (await sdk.users.show(request_options=NO_RETRIES)).data.id


@pytest.mark.asyncio
async def test_a_client_honouring_retry_after_gets_through_a_burst(sdk, http, emulator):
    await set_faults(emulator.url, {"rate_limit_burst": {"count": 1, "retry_after": 0}})
    assert (await sdk.users.show()).data.id, "the SDK's own retry after Retry-After: 0"
    burst = (await http.get(f"{emulator.url}/_emulator/faults")).json()["rate_limit_burst"]
    assert burst["seen"] == 2, "one call answered 429, then the retry that went through"


@pytest.mark.asyncio
async def test_5xx_on_the_nth_matching_call(sdk, http, emulator, seeded):
    await set_faults(emulator.url, {"server_error": {"status": 503, "path": "/v4/accounts/*/folders/*", "nth": 2}})
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    assert (await sdk.folders.show(account_id, root, request_options=NO_RETRIES)).data.id == root
    with pytest.raises(ApiError) as failed:
        await sdk.folders.show(account_id, root, request_options=NO_RETRIES)
    assert failed.value.status_code == 503 and failed.value.body["errors"][0]["title"] == "Service Unavailable"
    assert (await sdk.folders.show(account_id, root, request_options=NO_RETRIES)).data.id == root
    faults = (await http.get(f"{emulator.url}/_emulator/faults")).json()
    assert faults["server_error"]["seen"] == 3


@pytest.mark.asyncio
async def test_5xx_for_the_next_calls_on_ims_in_its_own_dialect(http, emulator):
    await set_faults(emulator.url, {"server_error": {"status": 500, "path": "/ims/*", "count": 2}})
    form = {"grant_type": "client_credentials", "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET}
    statuses = [(await http.post(f"{emulator.url}/ims/token/v3", data=form)) for _ in range(3)]
    assert [r.status_code for r in statuses] == [500, 500, 200]
    assert statuses[0].json()["error"] == "server_error"


@pytest.mark.asyncio
async def test_faults_are_validated_listed_and_cleared(http, emulator):
    url = f"{emulator.url}/_emulator/faults"
    for bad in ({"no_such_fault": 1}, {"server_error": {"status": 404}}, {"pull_disconnect": {"mode": "sometimes"}},
                {"pull_strategy": {"mode": "carrier-pigeon"}}, [1, 2]):
        response = await http.post(url, json=bad)
        assert response.status_code == 400 and response.json()["error"], bad
    await set_faults(emulator.url, {"pull_bytes_per_s": 1000, "rate_limits": False})
    assert (await http.get(url)).json()["pull_bytes_per_s"] == 1000
    cleared = (await http.delete(url)).json()
    assert cleared["pull_bytes_per_s"] is None and cleared["rate_limits"] is None
    assert cleared["reject_refresh_token_reuse"] is True


@pytest.mark.asyncio
async def test_puller_cut_once_resumes_and_delivers_the_exact_bytes(sdk, emulator, seeded, source, media):
    path, digest = media["clip.mov"]
    cut_at = 2 * MIB + 5
    await set_faults(emulator.url, {"pull_strategy": {"mode": "ranges", "chunk_size": MIB, "parallelism": 2},
                                      "pull_disconnect": {"at_byte": cut_at, "mode": "once"}})
    report = await upload_finished(emulator.url, (await remote_upload(sdk, seeded, source.url("/clip.mov"))).data.id)
    assert report["upload_complete"] and report["sha256"] == digest
    assert report["pull"]["disconnects"] == 1 and report["pull"]["retries"] == 1
    assert f"bytes={cut_at}-{3 * MIB - 1}" in report["pull"]["ranges"], "resumed from the byte it reached"
    assert report["pull"]["bytes"] == path.stat().st_size, "nothing fetched twice"


@pytest.mark.asyncio
async def test_puller_cut_once_in_a_single_get_resumes_with_a_range(sdk, emulator, seeded, source, media):
    path, digest = media["clip.mov"]
    await set_faults(emulator.url, {"pull_strategy": {"mode": "single"},
                                      "pull_disconnect": {"at_byte": 1_000_000, "mode": "once"}})
    report = await upload_finished(emulator.url, (await remote_upload(sdk, seeded, source.url("/clip.mov"))).data.id)
    assert report["sha256"] == digest
    resumed = f"bytes=1000000-{path.stat().st_size - 1}"
    assert [r["range"] for r in report["pull"]["request_log"]] == [None, None, resumed]


@pytest.mark.asyncio
async def test_puller_cut_always_fails_the_upload_with_a_reason(sdk, emulator, seeded, source):
    await set_faults(emulator.url, {"pull_disconnect": {"at_byte": 1_000_000, "mode": "always"}})
    created = await remote_upload(sdk, seeded, source.url("/clip.mov"))
    report = await upload_finished(emulator.url, created.data.id)
    assert report["upload_failed"] and not report["upload_complete"] and report["sha256"] is None
    assert "connection cut at byte 1000000" in report["failure_reason"]
    assert "gave up after 3 attempts" in report["failure_reason"]
    status = await sdk.files.show_file_upload_status(seeded["account_id"], created.data.id)
    assert status.data.upload_failed and not status.data.upload_complete
    assert (await sdk.files.show(seeded["account_id"], created.data.id)).data.status == "created"
    gets = [r for r in source.requests if r["method"] == "GET"]
    assert len(gets) == 3, "three attempts at the range holding the cut, nothing more after the failure"


@pytest.mark.asyncio
async def test_slow_pull_fault_caps_the_rate(sdk, emulator, seeded, source, media):
    size = media["odd.bin"][0].stat().st_size
    rate = 1 * MIB
    await set_faults(emulator.url, {"pull_bytes_per_s": rate})
    started = time.monotonic()
    created = await remote_upload(sdk, seeded, source.url("/odd.bin"), "odd.bin")
    report = await upload_finished(emulator.url, created.data.id)
    elapsed = time.monotonic() - started
    assert report["sha256"] == media["odd.bin"][1]
    assert size / rate * 0.9 <= elapsed < size / rate + 2, elapsed


@pytest.mark.asyncio
async def test_a_fault_on_s3_paths_answers_in_s3s_dialect(http, emulator):
    await set_faults(emulator.url, {"server_error": {"status": 503, "path": "/_s3/*"}})
    response = await http.put(f"{emulator.url}/_s3/frameio-uploads/x", content=b"")
    assert response.status_code == 503 and "<Code>SlowDown</Code>" in response.text
