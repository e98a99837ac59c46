"""One large file through the whole of PostFlow, against the emulator pulling the same file
straight from nginx, in the same run.

    .venv/bin/python -m bench.e2e [--size-mib 1024] [--runs 3] [--mtls on|off|both]

Starts the Frame.io emulator (`--no-rate-limits`) and `postflow up` on loopback (the stack
of the end-to-end tests: tunnel mode none, fast polling, INFO logs) and nginx (installed
from Debian packages if missing) serving the source file. Each PostFlow run drops the file
into the watch folder under a new name (a hard link: complete at once, warm in the page
cache) and times it from the job's `created_at` (the watcher's "stable, queued" moment) to
the emulator's `upload_completed_at`, the sha256 checked. Each reference run calls the
`files/remote_upload` of an emulator of its own (same program and options) with the nginx
URL of the same file (the default puller: 4 parallel 8 MiB Range GETs, as for PostFlow's
streamer) and times it from the 202 (the emulator's file `created_at`) to
`upload_completed_at`. Runs rotate which path goes
first; each cell is the median. Prints a Markdown table with the ratio against nginx and
whether the target (≤ 1.2×) is met.

`--mtls` sets mesh.mtls of the stack (default on, as the config's default); `both` runs a
stack of each, side by side (the idle one polls: noise on both alike), and adds the cost of
mutual TLS: time and CPU seconds of the four services (auth, watcher, streamer, dashboard;
/proc schedstat, from the drop to upload_complete) with mTLS on against off, and whether the
targets (≤ 1.10× time, ≤ 1.05× CPU) are met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.harness import (
    check_digests,
    direct_reference,
    epoch,
    link_into,
    prepare,
    service_pids,
    wait_delivered,
    wait_jobs_done,
)
from bench.range_server import MiB, cpu_seconds, verdict
from postflow.cli.supervisor import SERVICES
from postflow.testing.stack import running_stack

TARGET_RATIO = 1.2
MTLS_TIME_RATIO = 1.10
MTLS_CPU_RATIO = 1.05
SOURCE = "source.mov"
DIRECT = "direct"
MTLS_MODES = {"on": (True,), "off": (False,), "both": (True, False)}


def postflow_path(mtls: bool) -> str:
    return f"mTLS {'on' if mtls else 'off'}"


async def postflow_run(stack, media: Path, run: int, digest: str, timeout: float) -> dict[str, float]:
    name = f"postflow-{run}.mov"
    pids = service_pids(stack, SERVICES)
    cpu_before = sum(cpu_seconds(pid) for pid in pids.values())
    link_into(stack.watch_root, {name: media / SOURCE})
    files = await wait_delivered(stack.emulator_url, [name], timeout)
    cpu = sum(cpu_seconds(pid) for pid in pids.values()) - cpu_before
    check_digests(files, {name: digest})
    job = (await wait_jobs_done(stack.dashboard_url, [name], timeout=60))[name]
    stable, accepted, complete = (epoch(job["created_at"]), epoch(files[name]["created_at"]),
                                  epoch(files[name]["upload_completed_at"]))
    return {"total": complete - stable, "before_pull": accepted - stable, "pull": complete - accepted, "cpu": cpu}


async def direct_run(direct, media: Path, run: int, digest: str, timeout: float) -> dict[str, float]:
    name = f"direct-{run}.mov"
    await direct.upload({name: SOURCE})
    files = await wait_delivered(direct.emulator_url, [name], timeout)
    check_digests(files, {name: digest})
    return {"total": epoch(files[name]["upload_completed_at"]) - epoch(files[name]["created_at"])}


async def measure(size: int, runs: int, modes: tuple[bool, ...]) -> tuple[dict[str, list[dict]], list[float]]:
    timeout = 60 + size / (4 * MiB)  # far beyond any plausible loopback time
    paths = [*map(postflow_path, modes), DIRECT]
    results: dict[str, list[dict]] = {path: [] for path in paths}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="postflow-bench-") as tmp:
        work = Path(tmp)
        media = work / "media"
        digest = prepare(media, {SOURCE: size})[SOURCE]
        async with contextlib.AsyncExitStack() as running:
            stacks = {postflow_path(mtls): await running.enter_async_context(
                running_stack(work / f"stack-mtls-{'on' if mtls else 'off'}", {"mesh": {"mtls": mtls}}))
                for mtls in modes}
            direct = await running.enter_async_context(direct_reference(work, media))
            for run in range(runs):
                for path in paths[run % len(paths):] + paths[:run % len(paths)]:
                    if path == DIRECT:
                        results[path].append(await direct_run(direct, media, run, digest, timeout))
                    else:
                        results[path].append(await postflow_run(stacks[path], media, run, digest, timeout))
            load.append(os.getloadavg()[0])
    return results, load


def table(results: dict[str, list[dict]], size: int, load: list[float]) -> str:
    def column(path: str, key: str = "total") -> list[float]:
        return [r[key] for r in results[path]]

    def row(label: str, values: list[float], rate: bool = True, cpu: list[float] | None = None) -> str:
        median = statistics.median(values)
        speed = f"{size / MiB / median:.0f}" if rate else ""
        cpu_cell = f"{statistics.median(cpu):.2f}" if cpu else ""
        return f"| {label} | {median:.2f} | {speed} | {cpu_cell} | {', '.join(f'{v:.2f}' for v in values)} |"

    def ratio(path: str, other: str, key: str = "total") -> tuple[float, str]:
        median = statistics.median(column(path, key)) / statistics.median(column(other, key))
        each = ", ".join(f"{a / b:.2f}×" for a, b in zip(column(path, key), column(other, key), strict=True))
        return median, each

    postflow_paths = [path for path in results if path != DIRECT]
    rows = ["| path | seconds (median) | MiB/s | services' CPU s (median) | each run (s) |", "|---|---:|---:|---:|---|"]
    for path in postflow_paths:
        rows += [
            row(f"PostFlow ({path}): stable (job created) → upload_complete", column(path),
                cpu=column(path, "cpu")),
            row("  of which: job created → remote_upload 202 (token, folder, publish, probe)",
                column(path, "before_pull"), rate=False),
            row("  of which: 202 → upload_complete (the pull from the streamer)", column(path, "pull")),
        ]
    rows.append(row("nginx direct: 202 → upload_complete", column(DIRECT)))
    verdicts = []
    for path in postflow_paths:
        against_nginx, each = ratio(path, DIRECT)
        rows.append(f"| **ratio PostFlow ({path}) / nginx direct** | **{against_nginx:.2f}×** | | | {each} |")
        verdicts.append(verdict(f"PostFlow ({path}) end-to-end time ≤ {TARGET_RATIO}× nginx direct "
                                f"({against_nginx:.2f}×)", against_nginx <= TARGET_RATIO))
    if len(postflow_paths) == 2:
        on, off = postflow_paths
        (time_ratio, time_each), (cpu_ratio, cpu_each) = ratio(on, off), ratio(on, off, "cpu")
        rows += [f"| **mTLS on / off: time** | **{time_ratio:.2f}×** | | | {time_each} |",
                 f"| **mTLS on / off: services' CPU** | | | **{cpu_ratio:.2f}×** | {cpu_each} |"]
        verdicts += [verdict(f"mTLS adds ≤ {MTLS_TIME_RATIO - 1:.0%} time ({time_ratio:.2f}×)",
                             time_ratio <= MTLS_TIME_RATIO),
                     verdict(f"mTLS adds ≤ {MTLS_CPU_RATIO - 1:.0%} CPU ({cpu_ratio:.2f}×)",
                             cpu_ratio <= MTLS_CPU_RATIO)]
    return "\n".join([
        *rows, "",
        f"File {size / MiB:.0f} MiB, sha256 checked on every run; one emulator process per path, rate limits "
        f"off, default puller (4 parallel 8 MiB Range GETs); loopback, {os.cpu_count()} CPUs shared with other "
        f"work (1-min load {load[0]:.1f} before, {load[-1]:.1f} after); median of {len(results[DIRECT])} runs, "
        f"the paths taking turns to go first. Services' CPU: auth, watcher, streamer and dashboard, from the "
        f"drop to upload_complete.",
        "", *verdicts,
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mtls", choices=sorted(MTLS_MODES), default="on",
                        help="mesh.mtls of the stack; both: a stack of each, and the cost of mTLS")
    args = parser.parse_args(argv)
    size = args.size_mib * MiB
    results, load = asyncio.run(measure(size, args.runs, MTLS_MODES[args.mtls]))
    print(table(results, size, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
