"""One large file through the whole of PostFlow, against the emulator pulling the same file
straight from nginx, in the same run.

    .venv/bin/python -m bench.e2e [--size-mib 1024] [--runs 3]

Starts the Frame.io emulator (`--no-rate-limits`) and `postflow up` on loopback (the stack
of the end-to-end tests: tunnel mode none, fast polling, INFO logs) and nginx (installed
from Debian packages if missing) serving the source file. Each PostFlow run drops the file
into the watch folder under a new name (a hard link: complete at once, warm in the page
cache) and times it from the job's `created_at` (the watcher's "stable, queued" moment) to
the emulator's `upload_completed_at`, the sha256 checked. Each reference run calls the
`files/remote_upload` of an emulator of its own (same program and options) with the nginx
URL of the same file (the default puller: 4 parallel 8 MiB Range GETs, as for PostFlow's
streamer) and times it from the 202 (the emulator's file `created_at`) to
`upload_completed_at`. Runs alternate which path goes
first; each cell is the median. Prints a Markdown table with the ratio against nginx and
whether the target (≤ 1.2×) is met.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.harness import check_digests, direct_reference, epoch, link_into, prepare, wait_delivered, wait_jobs_done
from bench.range_server import MiB, verdict
from postflow.testing.stack import running_stack

TARGET_RATIO = 1.2
SOURCE = "source.mov"


async def postflow_run(stack, media: Path, run: int, digest: str, timeout: float) -> dict[str, float]:
    name = f"postflow-{run}.mov"
    link_into(stack.watch_root, {name: media / SOURCE})
    files = await wait_delivered(stack.emulator_url, [name], timeout)
    check_digests(files, {name: digest})
    job = (await wait_jobs_done(stack.dashboard_url, [name], timeout=60))[name]
    stable, accepted, complete = (epoch(job["created_at"]), epoch(files[name]["created_at"]),
                                  epoch(files[name]["upload_completed_at"]))
    return {"total": complete - stable, "before_pull": accepted - stable, "pull": complete - accepted}


async def direct_run(direct, media: Path, run: int, digest: str, timeout: float) -> dict[str, float]:
    name = f"direct-{run}.mov"
    await direct.upload({name: SOURCE})
    files = await wait_delivered(direct.emulator_url, [name], timeout)
    check_digests(files, {name: digest})
    return {"total": epoch(files[name]["upload_completed_at"]) - epoch(files[name]["created_at"])}


async def measure(size: int, runs: int) -> tuple[dict[str, list[dict]], list[float]]:
    timeout = 60 + size / (4 * MiB)  # far beyond any plausible loopback time
    results: dict[str, list[dict]] = {"postflow": [], "direct": []}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="postflow-bench-") as tmp:
        work = Path(tmp)
        media = work / "media"
        digest = prepare(media, {SOURCE: size})[SOURCE]
        async with running_stack(work / "stack") as stack, direct_reference(work, media) as direct:
            for run in range(runs):
                for path in ("postflow", "direct") if run % 2 == 0 else ("direct", "postflow"):
                    if path == "postflow":
                        results[path].append(await postflow_run(stack, media, run, digest, timeout))
                    else:
                        results[path].append(await direct_run(direct, media, run, digest, timeout))
            load.append(os.getloadavg()[0])
    return results, load


def table(results: dict[str, list[dict]], size: int, load: list[float]) -> str:
    def column(path: str, key: str = "total") -> list[float]:
        return [r[key] for r in results[path]]

    def row(label: str, values: list[float], rate: bool = True) -> str:
        median = statistics.median(values)
        speed = f"{size / MiB / median:.0f}" if rate else ""
        return f"| {label} | {median:.2f} | {speed} | {', '.join(f'{v:.2f}' for v in values)} |"

    postflow, direct = statistics.median(column("postflow")), statistics.median(column("direct"))
    ratio = postflow / direct
    each = ", ".join(f"{p / d:.2f}×" for p, d in zip(column("postflow"), column("direct"), strict=True))
    rows = [
        "| path | seconds (median) | MiB/s | each run (s) |", "|---|---:|---:|---|",
        row("PostFlow: stable (job created) → upload_complete", column("postflow")),
        row("  of which: job created → remote_upload 202 (token, folder, publish, probe)",
            column("postflow", "before_pull"), rate=False),
        row("  of which: 202 → upload_complete (the pull from the streamer)", column("postflow", "pull")),
        row("nginx direct: 202 → upload_complete", column("direct")),
        f"| **ratio PostFlow / nginx direct** | **{ratio:.2f}×** | | {each} |",
    ]
    return "\n".join([
        *rows, "",
        f"File {size / MiB:.0f} MiB, sha256 checked on every run; one emulator process per path, rate limits "
        f"off, default puller (4 parallel 8 MiB Range GETs); loopback, {os.cpu_count()} CPUs shared with other "
        f"work (1-min load "
        f"{load[0]:.1f} before, {load[-1]:.1f} after); median of {len(results['direct'])} alternating runs.",
        "",
        verdict(f"PostFlow end-to-end time ≤ {TARGET_RATIO}× nginx direct ({ratio:.2f}×)", ratio <= TARGET_RATIO),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    size = args.size_mib * MiB
    results, load = asyncio.run(measure(size, args.runs))
    print(table(results, size, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
