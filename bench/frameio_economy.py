"""Frame.io's API budget: many small files dropped at once with Frame.io's rate limits on.

    .venv/bin/python -m bench.frameio_economy [--size-kib 64] [--max-concurrent 32]
                                              [--drops 300x1 1000x20]

Each drop (FILESxFOLDERS) runs on a fresh stack (postflow/testing/stack.py: the emulator with
its rate limits ON, i.e. Frame.io's documented per-account limits, and `postflow up`), version
stacks on: FILES distinct files of --size-kib spread over FOLDERS watch folders (one Frame.io
folder each, mirrored; a single folder means the watch root itself) appear at once (hard
links of prepared sources). Measured: the wall time from the drop to the last job `done` (the
job API's `updated_at`), against the bound that Frame.io's limit on creating files sets
(remote and local upload: 5 per second, so FILES / 5 s); target ≤ 1.2× that. Frame.io calls per
file come from the emulator's call counter (`/_emulator/calls`, cleared just before the drop),
by route; a 429 answered counts as a call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import POLL_S, epoch, link_into
from postflow.core.config import WatchConfig
from postflow.testing.polling import wait_for
from postflow.testing.stack import running_stack

UPLOADS_PER_S = 5  # Frame.io: remote_upload and local_upload, 5 calls per second each
TARGET = 1.2
ACCOUNT_PREFIX = "/v4/accounts/{account_id}"
KiB = 1024


async def jobs_in(dashboard_url: str, http: httpx.AsyncClient, state: str) -> tuple[int, list[dict]]:
    """How many jobs are in `state`, and (for done) every one of them, page by page."""
    jobs: list[dict] = []
    token = ""
    while True:
        params = {"state": state, "page_size": 500 if state == "done" else 1, "page_token": token}
        page = (await http.get(f"{dashboard_url}/api/jobs", params=params)).raise_for_status().json()
        if state != "done":
            return page["total"], page["jobs"]
        jobs.extend(page["jobs"])
        token = page["next_page_token"]
        if not token:
            return page["total"], jobs


async def wait_all_done(dashboard_url: str, count: int, timeout: float) -> list[dict]:
    async with httpx.AsyncClient(timeout=30) as http:
        async def all_done() -> bool:
            failed, jobs = await jobs_in(dashboard_url, http, "failed")
            if failed:
                raise RuntimeError(f"{failed} job(s) failed, e.g. {jobs[0]['path']}: {jobs[0]['error']}")
            return (await http.get(f"{dashboard_url}/api/jobs", params={"state": "done", "page_size": 1})
                    ).raise_for_status().json()["total"] >= count

        await wait_for(all_done, timeout=timeout, interval=POLL_S * 4, message=f"{count} jobs done")
        return (await jobs_in(dashboard_url, http, "done"))[1]


async def calls(emulator_url: str, method: str = "GET") -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        return (await http.request(method, f"{emulator_url}/_emulator/calls")).raise_for_status().json()


async def drop(work: Path, files: int, folders: int, size: int, max_concurrent: int) -> dict:
    media = work / "media"
    media.mkdir()
    sources = [f"shot{i:04d}.mov" for i in range(files)]
    for name in sources:
        (media / name).write_bytes(os.urandom(size))
    overrides = {"watch": {"max_concurrent": max_concurrent, "version_stacks": True,
                           "status_poll_s": WatchConfig().status_poll_s}}
    async with running_stack(work / "stack", overrides, emulator_args=()) as stack:
        folder_of = {name: f"F{i % folders:02d}" if folders > 1 else "" for i, name in enumerate(sources)}
        for folder in set(folder_of.values()) - {""}:
            (stack.watch_root / folder).mkdir()
        await calls(stack.emulator_url, "DELETE")
        load_before = os.getloadavg()[0]
        dropped = time.time()
        link_into(stack.watch_root, {f"{folder_of[name]}/{name}".lstrip("/"): media / name for name in sources})
        jobs = await wait_all_done(stack.dashboard_url, files, timeout=60 + 3 * files / UPLOADS_PER_S)
        counted = await calls(stack.emulator_url)
        delivered = await stack.emulator_files()
    complete = [f for f in delivered if f["upload_complete"]]
    if len(complete) != files or len(delivered) != files:
        raise SystemExit(f"expected {files} files on the emulator, found {len(delivered)} ({len(complete)} complete)")
    return {"files": files, "folders": folders, "wall": max(epoch(j["updated_at"]) for j in jobs) - dropped,
            "attempts": sum(j["attempts"] for j in jobs), "calls": counted, "load": (load_before, os.getloadavg()[0])}


def table(results: list[dict], size: int, max_concurrent: int) -> str:
    rows = ["| drop | wall time, drop → last job done | Frame.io bound (files / 5 per s) | ratio | target ≤ 1.2× "
            "| Frame.io calls per file | attempts per file |",
            "|---|---:|---:|---:|---|---:|---:|"]
    details = []
    for r in results:
        bound = r["files"] / UPLOADS_PER_S
        ratio = r["wall"] / bound
        per_file = r["calls"]["total"] / r["files"]
        rows.append(f"| {r['files']:,} files → {r['folders']} folder(s) | {r['wall']:.1f} s | {bound:.0f} s "
                    f"| {ratio:.2f}× | {'met' if ratio <= TARGET else 'NOT met'} | {per_file:.2f} "
                    f"| {r['attempts'] / r['files']:.2f} |")
        by_route = ", ".join(f"`{route.replace(ACCOUNT_PREFIX, '…')}` {count:,} ({count / r['files']:.2f})"
                             for route, count in sorted(r["calls"]["calls"].items(), key=lambda item: -item[1]))
        details.append(f"- {r['files']:,} files → {r['folders']} folder(s), calls by route (per file): {by_route} "
                       f"(1-min load {r['load'][0]:.1f} before, {r['load'][1]:.1f} after)")
    return "\n".join([
        *rows, "", *details, "",
        f"Files of {size // KiB} KiB, distinct names, version stacks on; emulator rate limits on (Frame.io's "
        f"per-account limits); watch.max_concurrent = {max_concurrent}, status_poll_s {WatchConfig().status_poll_s:g} "
        f"(the default), stable_after_s 0.6, poll 0.2 s; loopback, {os.cpu_count()} CPUs shared with other work; "
        "a fresh stack per drop.",
    ])


def drop_spec(value: str) -> tuple[int, int]:
    files, _, folders = value.partition("x")
    try:
        return int(files), int(folders or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FILESxFOLDERS such as 300x1, got {value!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-kib", type=int, default=64)
    parser.add_argument("--max-concurrent", type=int, default=32)
    parser.add_argument("--drops", type=drop_spec, nargs="+", default=[(300, 1), (1000, 20)])
    args = parser.parse_args(argv)
    results = []
    for files, folders in args.drops:
        with tempfile.TemporaryDirectory(prefix="postflow-bench-") as tmp:
            results.append(asyncio.run(drop(Path(tmp), files, folders, args.size_kib * KiB, args.max_concurrent)))
    print(table(results, args.size_kib * KiB, args.max_concurrent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
