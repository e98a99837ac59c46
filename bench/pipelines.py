"""Pipelines: the scanning CPU of 20 pipelines over 100,000 files, and whether one pipeline's
storm of new files holds up another pipeline's first delivery.

    .venv/bin/python -m bench.pipelines [--trees 20] [--files 100000] [--interval-s 2] [--window-s 12]
                                        [--windows 5] [--slowfs] [--storm 500] [--probes 3]
                                        [--connections 1 2] [--max-concurrent 32] [--only scan|fairness]

Scanning: 20 trees of 5,000 one-byte `.mov` files (100 a folder, as bench/scan.py builds one) on
the local disk, warm. The real watcher runs them (the stack of postflow/testing/stack.py:
emulator + `postflow up`, 20 `pipelines` with `on_start: "new-only"`, so nothing is uploaded;
`watch.poll_interval_s` --interval-s, inotify off, its default). In steady state (no changes)
its CPU (/proc/<pid>/task/*/schedstat) over each of --windows windows, less its CPU per second
with 20 empty roots (what the watcher does besides scanning), times the poll period (the interval
plus the slowest pass, GetStats `last_scan_s`), is the CPU of one poll of every pipeline.
Reference: bare `os.walk` + `os.stat` passes over the 20 trees repeated in this process during
the same window (so both meet the same load from other work); the ratio is the median of the
windows'. Also in this process: the 20 Scanners as the watcher builds them (each pipeline's
PathFilter), a steady-state pass of all (second and later passes), taking turns with the
reference (median of 5); with --slowfs the same once more through the FUSE passthrough of
postflow/devtools/slowfs.py (no added latency: CPU is compared, waiting costs none).
Target: ≤ 1.2× the reference.

Fairness: the emulator with its rate limits ON (Frame.io's 5 uploads per second per account
make a storm last) and two pipelines A and B, on one connection or on two connections to two
accounts (an emulator seed: one user, account, project and OAuth client each); --connections
runs either or both, a fresh stack each. --storm files of 4 KiB appear at once in A; once A's
first job is done, one file is dropped into B, --probes times in a row (each after the last was
delivered, while A still has queued jobs). B's delay: from its job's `created_at` (stable,
queued) to the emulator's `upload_completed_at` (and to the 202 of its remote_upload), against
the same single file delivered alone before the storm (after a warm-up delivery in each
pipeline). Target: B's file delivered ≤ 5 s later than alone (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from bench.harness import POLL_S, epoch, link_into
from bench.range_server import cpu_seconds, verdict
from bench.scan import build_tree, reference_pass, timed
from postflow.cli.demo import poll_json
from postflow.core.config import WatchConfig, load_config
from postflow.devtools.slowfs import mounted
from postflow.testing.polling import wait_for
from postflow.testing.stack import Stack, running_stack
from postflow.v1 import watcher_pb2, watcher_pb2_grpc
from services.watcher.pipelines import Pipelines
from services.watcher.scanner import Scanner

SCAN_TARGET = 1.2
EXTRA_S_TARGET = 5.0
REPEATS = 5
INCLUDE = ["*.mov", "*.mp4", "*.mxf"]
UPLOADS_PER_S = 5  # Frame.io's limit on creating files, per account
PROBE_KIB = 4
B_CLIENT = {"client_id": "bench-studio-b", "client_secret": "bench-studio-b-secret"}


# -- scanning -----------------------------------------------------------------------------------

def scan_overrides(roots: list[Path], interval_s: float) -> dict:
    return {"watch": {"root": "", "include": INCLUDE, "poll_interval_s": interval_s, "inotify": False},
            "pipelines": [{"name": f"p{index:02d}", "root": str(root), "on_start": "new-only"}
                          for index, root in enumerate(roots)]}


def in_process(roots: list[Path], config_path: Path) -> dict[str, float]:
    """CPU of the reference over `roots`, and of a steady-state pass of the watcher's Scanners (built
    from the pipelines of the config at `config_path`, with `roots` as their roots), taking turns."""
    config = load_config(config_path, env={})
    scanners = [Scanner(root, routes.path_filter)
                for root, routes in zip(roots, Pipelines.routes_of(config).values(), strict=True)]
    for scanner in scanners:
        scanner.scan()  # the first pass builds the snapshot; polls after it find nothing changed
    runs = [(timed(lambda: [reference_pass(str(root)) for root in roots])[0],
             timed(lambda: [scanner.scan() for scanner in scanners])[0]) for _ in range(REPEATS)]
    return {"ref": statistics.median(ref for ref, _ in runs), "scanners": statistics.median(cpu for _, cpu in runs)}


def reference_until(roots: list[Path], deadline: float) -> float:
    """This thread's CPU per bare walk + stat pass over `roots`, passes repeated until `deadline`."""
    passes, started = 0, time.thread_time()
    while not passes or time.monotonic() < deadline:
        for root in roots:
            reference_pass(str(root))
        passes += 1
    return (time.thread_time() - started) / passes


async def watcher_cpu(work: Path, roots: list[Path], interval_s: float, window_s: float, windows: int,
                      reference: bool) -> list[dict[str, float]]:
    """Per window of `window_s` in steady state: the watcher's CPU per second, its slowest pass, the
    files it sees, and (`reference`) the CPU of a reference pass, repeated meanwhile in this process."""
    files = sum(1 for root in roots for _ in root.rglob("*.mov"))
    async with running_stack(work, scan_overrides(roots, interval_s)) as stack:
        pid = stack.pid("watcher")
        assert pid, "no watcher pid"
        channel = await stack.channel("watcher")
        stub = watcher_pb2_grpc.WatcherServiceStub(channel)
        try:
            await wait_for(lambda: stats_if(stub, lambda s: s.files_seen == files), timeout=120,
                           message=f"the watcher to see {files} files")
            await asyncio.sleep(2 * interval_s)  # a few more polls: settled, then steady
            results = []
            for _ in range(windows):
                before = await stub.GetStats(watcher_pb2.GetStatsRequest())
                cpu, started = cpu_seconds(pid), time.monotonic()
                if reference:
                    ref = await asyncio.to_thread(reference_until, roots, started + window_s)
                else:
                    await asyncio.sleep(window_s)  # the measurement window
                cpu, elapsed = cpu_seconds(pid) - cpu, time.monotonic() - started
                after = await stub.GetStats(watcher_pb2.GetStatsRequest())
                results.append({"cpu_per_s": cpu / elapsed, "scan_s": max(before.last_scan_s, after.last_scan_s),
                                "files": after.files_seen, "ref": ref if reference else 0.0})
        finally:
            await channel.close()
    return results


async def stats_if(stub: watcher_pb2_grpc.WatcherServiceStub, check: Callable) -> bool:
    return bool(check(await stub.GetStats(watcher_pb2.GetStatsRequest())))


@contextlib.contextmanager
def fuse_roots(base: Path, roots: list[Path]) -> Iterator[list[Path]]:
    with mounted(base, base.parent / "fuse") as mount:
        yield [mount.path / root.relative_to(base) for root in roots]


async def scanning(work: Path, trees: int, files: int, interval_s: float, window_s: float, windows: int,
                   slowfs: bool) -> dict:
    base = work / "trees"
    roots = [base / f"tree-{index:02d}" for index in range(trees)]
    for root in roots:
        build_tree(root, files // trees)
    empty = [work / "empty" / f"root-{index:02d}" for index in range(trees)]
    for root in empty:
        root.mkdir(parents=True)
    load = [os.getloadavg()[0]]
    result = {"idle": await watcher_cpu(work / "stack-empty", empty, interval_s, window_s, windows, False),
              "full": await watcher_cpu(work / "stack-full", roots, interval_s, window_s, windows, True)}
    config_path = work / "stack-full" / "config.json"
    result["local"] = in_process(roots, config_path)
    if slowfs:
        with fuse_roots(base, roots) as fuse:
            result["fuse"] = in_process(fuse, config_path)
    load.append(os.getloadavg()[0])
    return {**result, "load": load, "trees": trees, "interval_s": interval_s, "window_s": window_s}


def scan_table(r: dict) -> str:
    idle = statistics.median(window["cpu_per_s"] for window in r["idle"])
    trees, interval_s = r["trees"], r["interval_s"]
    per_window = [{"net": (w["cpu_per_s"] - idle) * (interval_s + w["scan_s"]),
                   "gross": w["cpu_per_s"] * (interval_s + w["scan_s"]), "ref": w["ref"]} for w in r["full"]]
    rows = [f"| measurement ({r['full'][0]['files']:,} files in {trees} pipelines) | CPU per poll of all {trees} "
            "| reference walk + stat | ratio | target ≤ 1.2× |", "|---|---:|---:|---:|---|"]

    def row(label: str, cpu: float, reference: float, ratio: float, spread: str = "") -> float:
        rows.append(f"| {label} | {cpu * 1000:.0f} ms | {reference * 1000:.0f} ms | {ratio:.2f}×{spread} "
                    f"| {'met' if ratio <= SCAN_TARGET else 'NOT met'} |")
        return ratio

    def watcher_row(label: str, key: str) -> float:
        ratios = sorted(w[key] / w["ref"] for w in per_window)
        return row(label, statistics.median(w[key] for w in per_window),
                   statistics.median(w["ref"] for w in per_window), statistics.median(ratios),
                   f" ({ratios[0]:.2f}–{ratios[-1]:.2f})")

    net = watcher_row(f"watcher process, less its CPU with {trees} empty roots", "net")
    watcher_row("watcher process, all its CPU", "gross")
    local = r["local"]
    row(f"in process: {trees} Scanners, steady-state pass", local["scanners"], local["ref"],
        local["scanners"] / local["ref"])
    if "fuse" in r:
        fuse = r["fuse"]
        row(f"in process, through FUSE (slowfs): {trees} Scanners", fuse["scanners"], fuse["ref"],
            fuse["scanners"] / fuse["ref"])
    busy = statistics.median(w["cpu_per_s"] for w in r["full"])
    scan_s = statistics.median(w["scan_s"] for w in r["full"])
    return "\n".join([
        *rows, "",
        f"Watcher: {busy * 100:.1f} % of a core with the trees, {idle * 100:.1f} % with {trees} empty roots; "
        f"{len(per_window)} windows of {r['window_s']:g} s each, the reference passes repeated in the bench "
        f"process during each window; ratio: median of the windows' (range); poll period poll_interval_s "
        f"{interval_s:g} + the slowest pass (median {scan_s:.2f} s). In process: the reference and the Scanners "
        f"taking turns, median of {REPEATS}. Local disk (ext4), warm; {os.cpu_count()} CPUs shared with other "
        f"work (1-min load {r['load'][0]:.1f} before, {r['load'][-1]:.1f} after).",
        "", verdict(f"scanning CPU per poll ≤ {SCAN_TARGET}× a bare walk + stat (watcher, net: {net:.2f}×)",
                    net <= SCAN_TARGET),
    ])


# -- fairness -----------------------------------------------------------------------------------

def seed(work: Path) -> dict:
    """Two users, each alone in an account with one project; the default client logs in as the
    first, B_CLIENT as the second. Returns the ids, the seed written to work/seed.json."""
    ids = {key: str(uuid.uuid4()) for key in ("a_account", "b_account", "a_project", "b_project")}

    def account(letter: str) -> dict:
        return {"name": f"Studio {letter.upper()}", "id": ids[f"{letter}_account"], "members": [f"{letter}@bench.test"],
                "workspaces": [{"name": f"Shows {letter.upper()}", "projects": [
                    {"name": f"Show {letter.upper()}", "id": ids[f"{letter}_project"]}]}]}

    spec = {"users": [{"name": f"User {x.upper()}", "email": f"{x}@bench.test"} for x in "ab"],
            "accounts": [account("a"), account("b")],
            "clients": [{**B_CLIENT, "user": "b@bench.test", "technical_user": "b@bench.test"}]}
    (work / "seed.json").write_text(json.dumps(spec))
    return ids


def fairness_overrides(roots: dict[str, Path], ids: dict, connections: int, max_concurrent: int) -> dict:
    second = {"connection": "b", "project": ids["b_project"]} if connections == 2 else {}
    return {"watch": {"root": "", "max_concurrent": max_concurrent, "status_poll_s": WatchConfig().status_poll_s},
            "connections": {"b": {**B_CLIENT, "account_id": ids["b_account"]}} if connections == 2 else {},
            "pipelines": [{"name": "A", "root": str(roots["A"]), "folder": ""},
                          {"name": "B", "root": str(roots["B"]), "folder": "", **second}]}


async def connect(dashboard_url: str, connection: str) -> None:
    """The OAuth web-app login of one more connection, as a browser on the dashboard does it."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as browser:
        (await browser.get(f"{dashboard_url}/auth/login", params={"connection": connection})).raise_for_status()
        await poll_json(browser, f"{dashboard_url}/api/status", accept=lambda status: any(
            view["connection"] == connection and view["state"] == "connected" for view in status["connections"]))


async def jobs_by_state(http: httpx.AsyncClient, stack: Stack, pipeline: str) -> dict[str, int]:
    pipelines = (await http.get(f"{stack.dashboard_url}/api/pipelines")).raise_for_status().json()["pipelines"]
    return next(p["jobs_by_state"] for p in pipelines if p["name"] == pipeline)


async def deliver(stack: Stack, http: httpx.AsyncClient, media: Path, root: Path, pipeline: str, name: str,
                  timeout: float) -> tuple[float, float]:
    """Drops `name` into the pipeline's root; seconds from its job's created_at to upload_complete,
    and of those, to the 202 of its remote_upload (the emulator's file created_at)."""
    link_into(root, {name: media / name})

    async def done() -> dict | None:
        page = (await http.get(f"{stack.dashboard_url}/api/jobs", params={"pipeline": pipeline, "q": name})
                ).raise_for_status().json()
        job = next((job for job in page["jobs"] if job["path"] == name), None)
        if job and job["state"] == "failed":
            raise RuntimeError(f"{pipeline}/{name} failed: {job['error']}")
        return job if job and job["state"] == "done" else None

    job = await wait_for(done, timeout=timeout, interval=POLL_S, message=f"{pipeline}/{name} done")
    delivered = next(f for f in await stack.emulator_files() if f["name"] == name and f["upload_complete"])
    created = epoch(job["created_at"])
    return epoch(delivered["upload_completed_at"]) - created, epoch(delivered["created_at"]) - created


async def fairness(work: Path, connections: int, storm: int, probes: int, max_concurrent: int) -> dict:
    ids = seed(work)
    roots = {name: work / "roots" / name for name in "AB"}
    media = work / "media"
    for folder in (*roots.values(), media):
        folder.mkdir(parents=True)
    storm_names = [f"a-{index:04d}.mov" for index in range(storm)]
    probe_names = [f"b-{kind}-{index}.mov" for kind in ("alone", "storm") for index in range(probes)]
    for name in ["a-warm.mov", "b-warm.mov", *storm_names, *probe_names]:
        (media / name).write_bytes(os.urandom(PROBE_KIB * 1024))
    timeout = 60 + 3 * storm / UPLOADS_PER_S
    overrides = fairness_overrides(roots, ids, connections, max_concurrent)
    load = [os.getloadavg()[0]]
    async with running_stack(work / "stack", overrides, emulator_args=("--seed", str(work / "seed.json"))) as stack, \
            httpx.AsyncClient(timeout=30) as http:
        if connections == 2:
            await connect(stack.dashboard_url, "b")

        async def probe(pipeline: str, name: str) -> tuple[float, float]:
            return await deliver(stack, http, media, roots[pipeline], pipeline, name, timeout)

        await probe("A", "a-warm.mov")  # tokens, projects and folder contents known: both routes warm
        await probe("B", "b-warm.mov")
        alone = [await probe("B", f"b-alone-{index}.mov") for index in range(probes)]
        link_into(roots["A"], {name: media / name for name in storm_names})
        await wait_for(lambda: a_done_at_least(http, stack, 2), timeout=timeout, interval=POLL_S,
                       message="A's storm under way")
        during, queued = [], []
        for index in range(probes):
            waiting = (await jobs_by_state(http, stack, "A")).get("queued", 0)
            if not waiting:
                break
            queued.append(waiting)
            during.append(await probe("B", f"b-storm-{index}.mov"))
        load.append(os.getloadavg()[0])
    return {"connections": connections, "alone": alone, "during": during, "queued": queued, "load": load}


async def a_done_at_least(http: httpx.AsyncClient, stack: Stack, count: int) -> bool:
    return (await jobs_by_state(http, stack, "A")).get("done", 0) >= count  # the warm-up, and one of the storm


def fairness_table(results: list[dict], storm: int, max_concurrent: int) -> str:
    rows = ["| pipelines A and B on | B's file alone: created → upload_complete (of which → remote_upload 202) "
            "| B's file during A's storm (of which → 202) | difference (medians) | A's jobs queued at B's drops "
            "| target ≤ +5 s |", "|---|---:|---:|---:|---|---|"]
    verdicts = []
    for r in results:
        label = "one connection (one account)" if r["connections"] == 1 else "two connections (two accounts)"
        if not r["during"]:
            rows.append(f"| {label} | {cell(r['alone'])} | storm over before B's drop | | | |")
            continue
        extra = median(r["during"]) - median(r["alone"])
        rows.append(f"| {label} | {cell(r['alone'])} | {cell(r['during'])} | {extra:+.2f} s "
                    f"| {', '.join(map(str, r['queued']))} | {'met' if extra <= EXTRA_S_TARGET else 'NOT met'} |")
        verdicts.append(verdict(f"{label}: B delivered ≤ {EXTRA_S_TARGET:g} s later than alone ({extra:+.2f} s)",
                                extra <= EXTRA_S_TARGET))
    loads = "; ".join(f"{r['load'][0]:.1f} → {r['load'][-1]:.1f}" for r in results)
    return "\n".join([
        *rows, "",
        f"A's storm: {storm:,} files of {PROBE_KIB} KiB at once; emulator rate limits on (Frame.io's per-account "
        f"limits: {storm / UPLOADS_PER_S:.0f} s of uploads at 5 per second); watch.max_concurrent = "
        f"{max_concurrent}, status_poll_s {WatchConfig().status_poll_s:g}, stable_after_s 0.6; each of B's files "
        f"dropped after the last was delivered; cells: median (each run). Loopback, {os.cpu_count()} CPUs shared "
        f"with other work (1-min load {loads}).", "", *verdicts,
    ])


def median(runs: list[tuple[float, float]]) -> float:
    return statistics.median(total for total, _ in runs)


def cell(runs: list[tuple[float, float]]) -> str:
    """Median seconds to upload_complete (to the 202), then each run's."""
    each = ", ".join(f"{total:.2f}" for total, _ in runs)
    return f"{median(runs):.2f} s ({statistics.median(accepted for _, accepted in runs):.2f} s; each {each})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--files", type=int, default=100_000, help="in all, spread over the trees")
    parser.add_argument("--interval-s", type=float, default=WatchConfig().poll_interval_s)
    parser.add_argument("--window-s", type=float, default=12.0)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--slowfs", action="store_true", help="the in-process passes through FUSE too")
    parser.add_argument("--storm", type=int, default=500)
    parser.add_argument("--probes", type=int, default=3)
    parser.add_argument("--connections", type=int, nargs="+", choices=(1, 2), default=[1, 2])
    parser.add_argument("--max-concurrent", type=int, default=32)
    parser.add_argument("--only", choices=("scan", "fairness"))
    args = parser.parse_args(argv)
    tables = []
    if args.only != "fairness":
        with tempfile.TemporaryDirectory(prefix="postflow-bench-") as tmp:
            tables.append(scan_table(asyncio.run(scanning(Path(tmp), args.trees, args.files, args.interval_s,
                                                          args.window_s, args.windows, args.slowfs))))
    if args.only != "scan":
        results = []
        for connections in args.connections:
            with tempfile.TemporaryDirectory(prefix="postflow-bench-") as tmp:
                results.append(asyncio.run(fairness(Path(tmp), connections, args.storm, args.probes,
                                                    args.max_concurrent)))
        tables.append(fairness_table(results, args.storm, args.max_concurrent))
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
