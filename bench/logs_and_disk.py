"""Log lines and disk writes of PostFlow per upload, at the default log level (INFO).

    .venv/bin/python -m bench.logs_and_disk [--files 10] [--file-mib 32] [--size-mib 1024]

Starts the Frame.io emulator (`--no-rate-limits`) and `postflow up` on loopback (the stack
of the end-to-end tests, default log level, default `max_concurrent`), drops --files files
of --file-mib MiB and one of --size-mib MiB into the watch folder at once (hard links of
prepared sources: no bytes copied) and waits until every upload is complete on the
emulator (sha256 checked) and every job is `done`. The logs are `<state_dir>/logs/<service>.log`,
written by the supervisor (`postflow up`) from each child's output; they are read once they
have been quiet for a second, before and after. Measured: new log lines per successful
upload (all services; target ≤ 10), and bytes written to disk per GiB uploaded:
`write_bytes` of /proc/<pid>/io of each service process and of the supervisor before and
after, and, separately, the size growth of the state dir (the watch folder inside it left
out). Target: nothing but state-database rows (and log lines): a few KiB per upload,
whatever the file's size, where a copy of the media would cost the file's whole size.
Prints Markdown tables with the targets and whether they are met.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.harness import check_digests, link_into, prepare, service_pids, wait_delivered, wait_jobs_done
from bench.range_server import GiB, MiB, verdict
from postflow.cli.supervisor import SERVICES
from postflow.testing.polling import wait_for
from postflow.testing.stack import Stack, running_stack, service_logs

TARGET_LINES_PER_UPLOAD = 10
TARGET_WRITE_PER_UPLOAD = MiB  # rows, not media: the smallest file dropped is 32 MiB
SUPERVISOR = "postflow up (supervisor: writes the logs)"
QUIET_S = 1.0


def proc_io(pid: int) -> dict[str, int]:
    return {key: int(value) for key, value in
            (line.split(":") for line in Path(f"/proc/{pid}/io").read_text().splitlines())}


def tree_sizes(root: Path, leave_out: Path) -> dict[str, int]:
    """Bytes of each file under `root` (the logs together as `logs/`), `leave_out` not counted."""
    sizes: Counter[str] = Counter()
    for path in root.rglob("*"):
        if path.is_file() and leave_out not in path.parents:
            relative = path.relative_to(root)
            sizes["logs/" if relative.parts[0] == "logs" else relative.as_posix()] += path.stat().st_size
    return dict(sizes)


def is_state_database(key: str) -> bool:
    return key.endswith((".sqlite", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal"))


async def quiet_logs(stack: Stack, timeout: float = 30) -> dict[str, list[str]]:
    """The service logs once no line has been added for QUIET_S: the supervisor copies each
    child's output line by line, so the last lines of a job may trail its `done`."""
    seen: dict = {"sizes": None, "since": 0.0}

    def quiet() -> bool:
        sizes = {path.name: path.stat().st_size for path in (stack.state_dir / "logs").glob("*.log")}
        now = time.monotonic()
        if sizes != seen["sizes"]:
            seen.update(sizes=sizes, since=now)
        return now - seen["since"] >= QUIET_S

    await wait_for(quiet, timeout=timeout, interval=0.1, message="logs quiet")
    return {name: text.splitlines() for name, text in service_logs(stack).items()}


async def measure(count: int, small: int, large: int) -> dict:
    sizes = {**{f"clip-{i:02d}.mov": small for i in range(count)}, "large.mov": large}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="postflow-bench-") as tmp:
        work = Path(tmp)
        media = work / "media"
        digests = prepare(media, sizes)
        async with running_stack(work / "stack") as stack:
            pids = {**service_pids(stack, SERVICES), SUPERVISOR: stack.up.pid}
            emulator_pid = stack.emulator.pid
            logs_before = await quiet_logs(stack)
            io_before = {name: proc_io(pid) for name, pid in {**pids, "emulator": emulator_pid}.items()}
            state_before = tree_sizes(stack.state_dir, stack.watch_root)
            link_into(stack.watch_root, {name: media / name for name in sizes})
            files = await wait_delivered(stack.emulator_url, sizes, timeout=60 + sum(sizes.values()) / (4 * MiB))
            check_digests(files, digests)
            jobs = await wait_jobs_done(stack.dashboard_url, sizes, timeout=120)
            logs_after = await quiet_logs(stack)
            io_after = {name: proc_io(pid) for name, pid in {**pids, "emulator": emulator_pid}.items()}
            state_after = tree_sizes(stack.state_dir, stack.watch_root)
            if any(stack.pid(name) != pid for name, pid in pids.items() if name in SERVICES):
                raise SystemExit("a service restarted during the run: its counters are not comparable")
        load.append(os.getloadavg()[0])
    new_lines = {name: lines[len(logs_before.get(name, [])):] for name, lines in logs_after.items()}
    written = {name: io_after[name]["write_bytes"] - io_before[name]["write_bytes"] for name in io_before}
    state = {key: state_after.get(key, 0) - state_before.get(key, 0) for key in state_before.keys() | state_after}
    return {"sizes": sizes, "jobs": jobs, "new_lines": new_lines, "written": written, "state": state, "load": load}


def lines_of(lines: list[str], job_ids: set[str]) -> int:
    return sum(1 for line in lines if any(f"job={job_id}" in line for job_id in job_ids))


def messages_of(lines: list[str], job_id: str) -> list[str]:
    """`service: message` of each line of one job (time, level, logger, trace and job id left out)."""
    return [f"{fields[2]}: {fields[-1]}" for line in lines if f"job={job_id}" in line
            and len(fields := line.split(maxsplit=6)) == 7]


def tables(result: dict, count: int) -> str:
    sizes, jobs, new_lines = result["sizes"], result["jobs"], result["new_lines"]
    uploads = len(jobs)
    uploaded_gib = sum(sizes.values()) / GiB
    every_line = [line for lines in new_lines.values() for line in lines]
    small_ids = {job["id"] for path, job in jobs.items() if path != "large.mov"}
    large_ids = {jobs["large.mov"]["id"]}
    per_upload = len(every_line) / uploads
    levels = Counter(line.split()[1] if len(line.split()) > 1 else "?" for line in every_line)
    out = ["| log lines (INFO, default level) | lines | per upload |", "|---|---:|---:|"]
    for name in SERVICES:
        lines = new_lines.get(name, [])
        out.append(f"| {name} | {len(lines)} | {len(lines) / uploads:.1f} |")
    out += [
        f"| **all services, {uploads} uploads** | **{len(every_line)}** | **{per_upload:.1f}** |",
        f"| lines of the {count} small jobs (job=…) | {lines_of(every_line, small_ids)} "
        f"| {lines_of(every_line, small_ids) / len(small_ids):.1f} |",
        f"| lines of the large job (job=…) | {lines_of(every_line, large_ids)} "
        f"| {lines_of(every_line, large_ids):.1f} |",
        f"| lines of no job | {len(every_line) - lines_of(every_line, small_ids | large_ids)} | |",
        "", f"Levels: {', '.join(f'{level} {n}' for level, n in levels.most_common())}. "
        f"The large job's lines: {'; '.join(messages_of(every_line, jobs['large.mov']['id']))}.", "",
        "| bytes written to disk | KiB | KiB per GiB uploaded | KiB per upload |", "|---|---:|---:|---:|",
    ]
    postflow_total = 0
    for name, written in result["written"].items():
        if name != "emulator":
            postflow_total += written
            out.append(f"| write_bytes, {name} | {written / 1024:.0f} | {written / 1024 / uploaded_gib:.0f} "
                       f"| {written / 1024 / uploads:.1f} |")
    state_total = sum(result["state"].values())
    out += [
        f"| **write_bytes, all PostFlow processes** | **{postflow_total / 1024:.0f}** "
        f"| **{postflow_total / 1024 / uploaded_gib:.0f}** | **{postflow_total / 1024 / uploads:.1f}** |",
        f"| write_bytes, emulator (not PostFlow; for comparison) | {result['written']['emulator'] / 1024:.0f} | | |",
        f"| state dir growth (watch folder left out) | {state_total / 1024:.0f} "
        f"| {state_total / 1024 / uploaded_gib:.0f} | {state_total / 1024 / uploads:.1f} |",
        *(f"| … of which {key} | {grown / 1024:.1f} | | |"
          for key, grown in sorted(result["state"].items()) if grown),
        "",
        f"{count} × {sizes['clip-00.mov'] / MiB:.0f} MiB + 1 × {sizes['large.mov'] / MiB:.0f} MiB = "
        f"{uploaded_gib:.3f} GiB uploaded in {uploads} successful uploads (sha256 checked, every job done); "
        f"loopback, {os.cpu_count()} CPUs shared with other work (1-min load {result['load'][0]:.1f} before, "
        f"{result['load'][-1]:.1f} after).", "",
        verdict(f"≤ {TARGET_LINES_PER_UPLOAD} log lines per upload ({per_upload:.1f})",
                per_upload <= TARGET_LINES_PER_UPLOAD),
        verdict(f"no media bytes written, only rows and log lines (< {TARGET_WRITE_PER_UPLOAD // 1024} KiB per "
                f"upload): {postflow_total / 1024 / uploads:.0f} KiB per upload written by PostFlow's processes",
                postflow_total / uploads < TARGET_WRITE_PER_UPLOAD),
        verdict("nothing but the state databases and the logs grew in the state dir",
                all(is_state_database(key) or key == "logs/" for key, grown in result["state"].items() if grown)),
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--file-mib", type=int, default=32)
    parser.add_argument("--size-mib", type=int, default=1024, help="the one large file")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.files, args.file_mib * MiB, args.size_mib * MiB))
    print(tables(result, args.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
