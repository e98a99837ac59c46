"""Many uploads at once through the whole of PostFlow, against the emulator pulling the same
files straight from nginx, concurrently, in the same run.

    .venv/bin/python -m bench.concurrent [--files 20] [--size-mib 64] [--runs 3]

Starts the Frame.io emulator (`--no-rate-limits`), `postflow up` on loopback (the stack of
the end-to-end tests, with `watch.max_concurrent` = --files so every file uploads at once)
and nginx (installed from Debian packages if missing) serving the source files. PostFlow:
all files are dropped into the watch folder at once (hard links: complete at once, warm in
the page cache); aggregate throughput = total bytes / wall time from the drop to the last
`upload_completed_at` on the emulator, sha256 checked. Reference: an emulator of its own
(same program and options) and one `files/remote_upload` per file with its nginx URL, all
at once (the default puller: 4 parallel 8 MiB Range GETs per file); wall time from the
first request to the last `upload_completed_at`.
Peak memory is VmHWM from /proc/<pid>/status of each service, of the emulator and of nginx,
reset to the current RSS (/proc/<pid>/clear_refs) before each phase so that it is that
phase's peak; the RSS it starts from is shown beside it. Prints a Markdown table with the
throughput ratio against nginx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import (
    check_digests,
    clear_peak,
    direct_reference,
    epoch,
    link_into,
    peaks_mb,
    prepare,
    service_pids,
    wait_delivered,
    wait_jobs_done,
)
from bench.range_server import MiB
from postflow.cli.supervisor import SERVICES
from postflow.testing.stack import running_stack


def completed_by(files: dict[str, dict]) -> float:
    return max(epoch(f["upload_completed_at"]) for f in files.values())


async def postflow_run(stack, media: Path, sources: dict[str, str], run: int, pids: dict[str, int],
                       timeout: float) -> dict:
    names = {f"postflow-{run}-{source}": source for source in sources}
    start = clear_peak(pids)
    dropped = time.time()
    link_into(stack.watch_root, {name: media / source for name, source in names.items()})
    files = await wait_delivered(stack.emulator_url, names, timeout)
    check_digests(files, {name: sources[source] for name, source in names.items()})
    jobs = await wait_jobs_done(stack.dashboard_url, names, timeout=120)
    end = completed_by(files)
    return {"wall": end - dropped, "from_first_job": end - min(epoch(j["created_at"]) for j in jobs.values()),
            "peaks": peaks_mb(pids), "start": start}


async def direct_run(direct, sources: dict[str, str], run: int, pids: dict[str, int], timeout: float) -> dict:
    names = {f"direct-{run}-{source}": source for source in sources}
    start = clear_peak(pids)
    started = time.time()
    await direct.upload(names)
    files = await wait_delivered(direct.emulator_url, names, timeout)
    check_digests(files, {name: sources[source] for name, source in names.items()})
    return {"wall": completed_by(files) - started, "peaks": peaks_mb(pids), "start": start}


async def measure(count: int, size: int, runs: int) -> tuple[dict[str, list[dict]], list[float]]:
    timeout = 60 + count * size / (4 * MiB)
    results: dict[str, list[dict]] = {"postflow": [], "direct": []}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="postflow-bench-") as tmp:
        work = Path(tmp)
        media = work / "media"
        sources = prepare(media, {f"clip-{i:02d}.mov": size for i in range(count)})
        overrides = {"watch": {"max_concurrent": count}}
        async with running_stack(work / "stack", overrides) as stack, direct_reference(work, media) as direct:
            postflow_pids = {**service_pids(stack, SERVICES), "emulator": stack.emulator.pid}
            direct_pids = {"emulator": direct.emulator_pid, "nginx": direct.nginx.pid}
            for run in range(runs):
                for path in ("postflow", "direct") if run % 2 == 0 else ("direct", "postflow"):
                    if path == "postflow":
                        results[path].append(await postflow_run(stack, media, sources, run, postflow_pids, timeout))
                    else:
                        results[path].append(await direct_run(direct, sources, run, direct_pids, timeout))
            load.append(os.getloadavg()[0])
    return results, load


def table(results: dict[str, list[dict]], count: int, size: int, load: list[float]) -> str:
    total_mib = count * size / MiB

    def median(path: str, key: str) -> float:
        return statistics.median(r[key] for r in results[path])

    def peak(path: str, name: str) -> str:
        if name not in results[path][0]["peaks"]:
            return "–"
        highest = max(results[path], key=lambda r: r["peaks"][name])
        return f"{highest['peaks'][name]:.0f} MB ({highest['start'][name]:.0f})"

    postflow, direct = median("postflow", "wall"), median("direct", "wall")
    first_job = median("postflow", "from_first_job")
    rows = [
        "| | PostFlow | nginx direct | ratio PostFlow / nginx |", "|---|---:|---:|---:|",
        f"| wall time, drop (PostFlow) or first request (nginx) → last upload_complete | {postflow:.2f} s "
        f"| {direct:.2f} s | {postflow / direct:.2f}× |",
        f"| **aggregate throughput** | **{total_mib / postflow:.0f} MiB/s** | **{total_mib / direct:.0f} MiB/s** "
        f"| **{direct / postflow:.2f}×** |",
        f"| aggregate throughput counted from the first job created (no stability wait) "
        f"| {total_mib / first_job:.0f} MiB/s ({first_job:.2f} s) | | {direct / first_job:.2f}× |",
    ]
    for name in (*SERVICES, "emulator", "nginx"):
        rows.append(f"| peak RSS (VmHWM), {name} (RSS at the phase's start) | {peak('postflow', name)} "
                    f"| {peak('direct', name)} | |")
    return "\n".join([
        *rows, "",
        f"{count} files × {size / MiB:.0f} MiB = {total_mib:.0f} MiB, sha256 checked; watch.max_concurrent = {count}, "
        f"stable_after_s 0.6, poll 0.2 s; one emulator process per path, rate limits off, default puller "
        f"(4 parallel 8 MiB Range GETs per file); loopback, {os.cpu_count()} CPUs shared with other work "
        f"(1-min load {load[0]:.1f} before, "
        f"{load[-1]:.1f} after); median of {len(results['direct'])} alternating run(s); peak RSS: the highest "
        "of the runs, each phase's own (VmHWM reset to the current RSS before it, so memory kept from the "
        "previous phase counts).",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    size = args.size_mib * MiB
    results, load = asyncio.run(measure(args.files, size, args.runs))
    print(table(results, args.files, size, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
