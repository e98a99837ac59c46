"""What the end-to-end benchmarks (e2e, concurrent, logs_and_disk) share: the whole stack as
real processes (postflow.testing.stack: the emulator and `postflow up` on loopback), files dropped
into the watch folder as hard links of prepared sources (one atomic step each, no bytes
copied, the page cache shared with nginx), the reference path (the same emulator pulling
the same files straight from nginx through Frame.io's `files/remote_upload`), and polling
the emulator and the job API with a deadline. The reference has an emulator process of its
own, started as the stack's is (`--no-rate-limits`), so that each emulator's memory and
leftovers belong to one path only. Times come from the processes' own wall-clock
stamps: a job's `created_at` (the watcher's moment "stable, queued"), and the emulator's
file `created_at` (the 202 of remote_upload) and `upload_completed_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
from google.protobuf.timestamp_pb2 import Timestamp

from bench.range_server import Server, ensure_nginx, make_file, start_nginx
from postflow.cli.demo import poll_json
from postflow.core.protos import to_seconds
from postflow.testing.emulator import client_credentials_token, start_emulator
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, process_rss_peak_mb, stop_process
from postflow.testing.stack import Stack

POLL_S = 0.25  # polling the emulator costs it CPU; the timings come from its stamps, not the poll


def epoch(stamp: str) -> float:
    """An RFC 3339 time (the job API's nanoseconds or the emulator's microseconds) as epoch seconds."""
    timestamp = Timestamp()
    timestamp.FromJsonString(stamp)
    return to_seconds(timestamp)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def prepare(media: Path, sizes: dict[str, int]) -> dict[str, str]:
    """Writes each source file (warm in the page cache); returns {name: sha256}."""
    media.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, size in sizes.items():
        make_file(media / name, size)
        digests[name] = sha256_of(media / name)
    return digests


def link_into(root: Path, links: dict[str, Path]) -> None:
    """The drop: each source appears in the watch root at once, complete, under a new name."""
    for name, source in links.items():
        os.link(source, root / name)


def clear_peak(pids: dict[str, int]) -> dict[str, float]:
    """Resets VmHWM to the current RSS (`5` > /proc/<pid>/clear_refs), so the next reading is
    the peak of what follows, not of the process's whole life; returns that RSS (MB), from
    which the peak starts (memory a process kept from earlier work counts in its peak)."""
    for pid in pids.values():
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return peaks_mb(pids)


def peaks_mb(pids: dict[str, int]) -> dict[str, float]:
    return {name: process_rss_peak_mb(pid) for name, pid in pids.items()}


async def emulator_files(emulator_url: str, http: httpx.AsyncClient) -> dict[str, dict]:
    files = (await http.get(f"{emulator_url}/_emulator/files")).raise_for_status().json()["files"]
    return {"/".join(filter(None, [f.get("folder_path", ""), f["name"]])): f for f in files}


async def wait_delivered(emulator_url: str, names: Iterable[str], timeout: float) -> dict[str, dict]:
    """Polls `/_emulator/files` until every named file (folder/name) is upload_complete; a
    failed upload ends the wait at once."""
    wanted = set(names)
    async with httpx.AsyncClient(timeout=30) as http:
        async def all_complete() -> dict[str, dict] | None:
            files = {key: f for key, f in (await emulator_files(emulator_url, http)).items() if key in wanted}
            failed = [f"{key}: {f['failure_reason']}" for key, f in files.items() if f["upload_failed"]]
            if failed:
                raise RuntimeError(f"upload failed: {failed}")
            return files if len(files) == len(wanted) and all(f["upload_complete"] for f in files.values()) else None

        return await wait_for(all_complete, timeout=timeout, interval=POLL_S,
                              message=f"{len(wanted)} upload(s) complete on the emulator")


async def wait_jobs_done(dashboard_url: str, paths: Iterable[str], timeout: float) -> dict[str, dict]:
    """Polls the dashboard's `GET /api/jobs` until the job of every path is `done`."""
    wanted = set(paths)
    async with httpx.AsyncClient(timeout=30) as http:
        async def all_done() -> dict[str, dict] | None:
            response = (await http.get(f"{dashboard_url}/api/jobs", params={"page_size": 500})).raise_for_status()
            jobs = {job["path"]: job for job in response.json()["jobs"] if job["path"] in wanted}
            failed = [f"{path}: {job['error']}" for path, job in jobs.items() if job["state"] == "failed"]
            if failed:
                raise RuntimeError(f"job failed: {failed}")
            return jobs if len(jobs) == len(wanted) and all(j["state"] == "done" for j in jobs.values()) else None

        return await wait_for(all_done, timeout=timeout, interval=POLL_S, message=f"{len(wanted)} job(s) done")


def check_digests(files: dict[str, dict], expected: dict[str, str]) -> None:
    wrong = {name: f["sha256"] for name, f in files.items() if f["sha256"] != expected[name]}
    if wrong:
        raise SystemExit(f"sha256 mismatch on the emulator: {wrong}")


@dataclass
class Direct:
    """The reference: the emulator pulls straight from nginx (Frame.io v4 `files/remote_upload`
    with `source_url` on nginx, a client-credentials bearer token, the emulator's default
    puller: parallel Range GETs)."""

    emulator_url: str
    emulator_pid: int
    nginx: Server
    token: str
    upload_url: str

    async def upload(self, names: dict[str, str]) -> None:
        """Asks for every {frame.io name: media file name} at once; returns after all the 202s."""
        base = self.nginx.url.rsplit("/", 1)[0]
        async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {self.token}"}) as http:
            async def one(name: str, source: str) -> None:
                body = {"data": {"name": name, "source_url": f"{base}/{source}"}}
                response = await http.post(self.upload_url, json=body)
                if response.status_code != 202:
                    raise RuntimeError(f"remote_upload of {source}: {response.status_code} {response.text}")

            await asyncio.gather(*(one(name, source) for name, source in names.items()))


@contextlib.asynccontextmanager
async def direct_reference(work: Path, media: Path) -> AsyncIterator[Direct]:
    """An emulator (`--no-rate-limits`), nginx (installed from Debian packages if missing)
    serving `media`, and a token."""
    port = free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    emulator = await start_emulator(port, child_env(), work / "reference-emulator.log", "--no-rate-limits")
    nginx = None
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            seeded = await poll_json(http, f"{emulator_url}/_emulator/state", timeout=20)
        (work / "nginx").mkdir()
        nginx = start_nginx(ensure_nginx(), work / "nginx", media)
        token = await client_credentials_token(emulator_url)
        upload_url = (f"{emulator_url}/v4/accounts/{seeded['account_id']}/folders/{seeded['root_folder_id']}"
                      "/files/remote_upload")
        yield Direct(emulator_url, emulator.pid, nginx, token, upload_url)
    finally:
        if nginx is not None:
            nginx.process.terminate()
            nginx.process.wait(timeout=20)
        await stop_process(emulator)


def service_pids(stack: Stack, names: Iterable[str]) -> dict[str, int]:
    pids = {name: stack.pid(name) for name in names}
    missing = [name for name, pid in pids.items() if not pid]
    if missing:
        raise SystemExit(f"no pid for {missing}")
    return pids
