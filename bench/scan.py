"""Scan benchmark: one full pass of the watcher's scanner over trees of 10,000 and 100,000
files, against a bare `os.walk` + `os.stat` pass measured in the same run.

    .venv/bin/python bench/scan.py [--sizes 10000 100000] [--keep DIR]

Prints a Markdown table: CPU (time.process_time) and wall time of one pass (best of a few),
the cost of diffing after 1 % of the files changed, settling every file as stable, and the
peak RSS of a watcher-like process (the whole watcher service imported, the tree scanned
three times and settled) beside that of a process doing only the reference walk.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES_PER_DIR = 100
REPEATS = 3
ROOT = Path(__file__).resolve().parent.parent


def build_tree(root: Path, files: int) -> None:
    """SQxx/SHxxxx/name_vNNN.mov, 100 files a directory, 1 byte each."""
    for index in range(files):
        shot = index // FILES_PER_DIR
        folder = root / f"SQ{shot // 100:02d}" / f"SH{shot:04d}"
        if index % FILES_PER_DIR == 0:
            folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"SQ{shot // 100:02d}_SH{shot:04d}_v{index % FILES_PER_DIR:03d}.mov", "wb") as out:
            out.write(b"x")


def reference_pass(root: str) -> int:
    count = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            os.stat(os.path.join(dirpath, name))
            count += 1
    return count


def timed(fn, *args) -> tuple[float, float, object]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn(*args)
    return time.process_time() - cpu, time.perf_counter() - wall, result


def best(fn, *args) -> tuple[float, float]:
    runs = [timed(fn, *args)[:2] for _ in range(REPEATS)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def touch_some(root: Path, every: int) -> int:
    touched = 0
    for index, path in enumerate(sorted(root.rglob("*.mov"))):
        if index % every == 0:
            with open(path, "ab") as out:
                out.write(b"y")
            touched += 1
    return touched


def measure_in_process(root: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from services.watcher.scanner import PathFilter, Scanner
    from services.watcher.stability import settle_stable

    scanner = Scanner(root, PathFilter(["*.mov", "*.mp4", "*.mxf"], [".*", "*.tmp", "*.part", "~*"]))
    first_cpu, first_wall, _ = timed(scanner.scan)
    scan_cpu, scan_wall = best(scanner.scan)
    ref_cpu, ref_wall = best(reference_pass, str(root))
    touched = touch_some(root, 100)
    diff_cpu, diff_wall, changes = timed(scanner.scan)
    assert len(changes) == touched, (len(changes), touched)
    settle_cpu, _, settled = timed(lambda: sum(1 for _ in settle_stable(scanner, time.monotonic() + 3600, 1.0)))
    return {"files": scanner.file_count, "first_cpu": first_cpu, "scan_cpu": scan_cpu, "scan_wall": scan_wall,
            "ref_cpu": ref_cpu, "ref_wall": ref_wall, "diff_cpu": diff_cpu, "diff_wall": diff_wall,
            "changed": len(changes), "settle_cpu": settle_cpu, "settled": settled}


WATCHER_LIKE = """
import sys, time
sys.path.insert(0, {root!r})
import services.watcher.server  # the whole service: grpc, otel, httpx, the Frame.io SDK, sqlite
from services.watcher.scanner import PathFilter, Scanner
from services.watcher.stability import settle_stable
scanner = Scanner({tree!r}, PathFilter(["*.mov"], [".*", "*.tmp", "*.part", "~*"]))
for _ in range(3):
    scanner.scan()
    for _ in settle_stable(scanner, time.monotonic() + 3600, 1.0):
        pass
print(scanner.file_count)
"""
REFERENCE_ONLY = """
import os
n = 0
for dirpath, _, names in os.walk({tree!r}):
    for name in names:
        os.stat(os.path.join(dirpath, name)); n += 1
print(n)
"""


def peak_rss_mb(code: str) -> float:
    """Runs `code` in a fresh interpreter; its peak RSS (ru_maxrss of the child) in MB."""
    wrapper = code + "\nimport resource, json\nprint(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    out = subprocess.run([sys.executable, "-c", wrapper], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", help="build the trees here and keep them (default: a temp dir, removed)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="postflow-bench-", dir=args.keep) as tmp:
        empty = Path(tmp) / "empty"
        empty.mkdir()
        baseline = peak_rss_mb(WATCHER_LIKE.format(root=str(ROOT), tree=str(empty)))
        for size in args.sizes:
            tree = Path(tmp) / f"tree-{size}"
            build_tree(tree, size)
            result = measure_in_process(tree)
            result["rss_watcher"] = peak_rss_mb(WATCHER_LIKE.format(root=str(ROOT), tree=str(tree)))
            result["rss_baseline"] = baseline
            result["rss_ref"] = peak_rss_mb(REFERENCE_ONLY.format(tree=str(tree)))
            rows.append(result)
    print(f"Scan benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, best of {REPEATS}; "
          f"CPU = time.process_time)\n")
    print("| files | scan CPU | scan wall | reference walk+stat CPU / wall | first scan CPU "
          "| pass with 1 % changed, scan + diff (CPU) | settle all, once at start (CPU) | peak RSS watcher-like "
          "| same, empty tree "
          "| peak RSS reference |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['files']:,} | {r['scan_cpu']*1000:.0f} ms | {r['scan_wall']*1000:.0f} ms "
              f"| {r['ref_cpu']*1000:.0f} / {r['ref_wall']*1000:.0f} ms | {r['first_cpu']*1000:.0f} ms "
              f"| {r['diff_cpu']*1000:.0f} ms ({r['changed']:,} changes) | {r['settle_cpu']*1000:.0f} ms "
              f"| {r['rss_watcher']:.0f} MB | {r['rss_baseline']:.0f} MB | {r['rss_ref']:.0f} MB |")


if __name__ == "__main__":
    main()
