"""A 1 GiB remote upload, pulled by the emulator running as its own process, arrives with
the right sha256 by parallel ranges and by one plain GET, while the emulator's peak
resident memory stays far below the file (it hashes in order and stores nothing)."""

import asyncio
import sys

import httpx
import pytest
import pytest_asyncio

from postflow.testing.emulator import client_credentials_token
from postflow.testing.file_server import RangeServer
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, process_rss_peak_mb

GIB = 1024**3
RSS_LIMIT_MB = 150


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "one-gib.mov"
    yield path, write_media(path, GIB, seed=42)
    path.unlink()  # pytest keeps recent temp dirs; a gigabyte each is too much to leave behind


@pytest_asyncio.fixture
async def emulator_process():
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postflow.emulator", "--port", str(port), "--no-rate-limits", env=child_env(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(process.stdout.readline(), 10)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


@pytest.mark.asyncio
async def test_one_gib_pulls_by_ranges_and_by_one_get_in_flat_memory(big_file, emulator_process):
    path, digest = big_file
    process, url = emulator_process
    token = await client_credentials_token(url)
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        seeded = (await http.get(f"{url}/_emulator/state")).json()
        upload_url = f"{url}/v4/accounts/{seeded['account_id']}/folders/{seeded['root_folder_id']}/files/remote_upload"
        with RangeServer({"/big": path}) as source:
            for strategy in ({"mode": "ranges", "chunk_size": 8 * 1024 * 1024, "parallelism": 4}, {"mode": "single"}):
                (await http.post(f"{url}/_emulator/faults", json={"pull_strategy": strategy})).raise_for_status()
                body = {"data": {"name": "big.mov", "source_url": source.url("/big")}}
                created = await http.post(upload_url, json=body)
                assert created.status_code == 202 and created.json()["data"]["file_size"] == GIB

                async def report(created=created) -> dict | None:
                    files = (await http.get(f"{url}/_emulator/files")).json()["files"]
                    file = next(f for f in files if f["id"] == created.json()["data"]["id"])
                    return file if file["upload_complete"] or file["upload_failed"] else None

                file = await wait_for(report, timeout=60, interval=0.2, message=f"1 GiB pull ({strategy['mode']})")
                assert file["sha256"] == digest, file["failure_reason"]
                assert file["pull"]["strategy"] == strategy["mode"] and file["pull"]["bytes"] == GIB
                expected_gets = GIB // strategy["chunk_size"] if strategy["mode"] == "ranges" else 1
                assert file["pull"]["requests"] == expected_gets + 1, "the HEAD probe, then the GETs"
                peak = process_rss_peak_mb(process.pid)
                assert peak < RSS_LIMIT_MB, f"emulator peak RSS {peak:.0f} MB after the {strategy['mode']} pull"
