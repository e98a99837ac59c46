"""What the fault campaign's scenarios share: a seed to replay a run, staged media dropped into a
running stack's watch folder, the audit of the delivery (each file reached Frame.io, that is
the emulator, exactly once with the right bytes and its job is DONE), the services' logs and
pids, and the tally of the session (faults injected, files lost or duplicated)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from postflow.cli.supervisor import SERVICES
from postflow.core.rpc import check_health
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.stack import Stack, service_logs

MiB = 1024 * 1024
FINAL = {"done", "failed", "cancelled"}


@dataclass
class Tally:
    """What the fault campaign did, summed over the session and printed at its end."""

    soak: bool
    faults: Counter = field(default_factory=Counter)
    files: int = 0
    lost: int = 0
    duplicated: int = 0
    scenarios: int = 0

    def fault(self, kind: str, count: int = 1) -> None:
        self.faults[kind] += count

    def delivery(self, files: int, lost: int, duplicated: int) -> None:
        self.scenarios += 1
        self.files += files
        self.lost += lost
        self.duplicated += duplicated

    def add(self, other: dict) -> None:
        """Another tally's counts (as `as_dict` gives them: a test worker's)."""
        self.faults.update(other["faults"])
        self.files, self.lost = self.files + other["files"], self.lost + other["lost"]
        self.duplicated, self.scenarios = self.duplicated + other["duplicated"], self.scenarios + other["scenarios"]

    def as_dict(self) -> dict:
        return {"faults": dict(self.faults), "files": self.files, "lost": self.lost, "duplicated": self.duplicated,
                "scenarios": self.scenarios}

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items()))
        return (f"PostFlow fault campaign ({'soak' if self.soak else 'short'}): "
                f"faults injected {sum(self.faults.values())} ({kinds or 'none'}); "
                f"files {self.files}, lost {self.lost}, duplicated {self.duplicated} "
                f"in {self.scenarios} scenarios")


TALLY_KEY = pytest.StashKey[Tally]()


def stage(stack: Stack, relpath: str, size: int, seed: int) -> tuple[Path, str]:
    """Writes a file next to the watch root (same file system); returns it and its sha256."""
    staged = stack.root / "staging" / str(seed) / Path(relpath).name
    return staged, write_media(staged, size, seed)


def drop(stack: Stack, relpath: str, staged: Path) -> None:
    """Moves a finished file into the watch folder at once, as a render farm's rename does."""
    target = stack.watch_root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)


def media_set(stack: Stack, count: int, rng: random.Random, prefix: str,
              sizes: tuple[int, int] = (1 * MiB, 8 * MiB)) -> dict[str, tuple[Path, str]]:
    """`count` staged files of random sizes, some in nested folders: relpath → (staged, sha256)."""
    files = {}
    for index in range(count):
        folder = rng.choice(["", "SQ01/", "SQ01/SH010/", "SQ02/"])
        relpath = f"{folder}{prefix}_{index:03d}.mov"
        files[relpath] = stage(stack, relpath, rng.randint(*sizes) + index, seed=rng.randrange(1 << 30))
    return files


def campaign_seed() -> int:
    """A new seed, or POSTFLOW_CAMPAIGN_SEED to replay a run. The seed is printed: pytest
    shows it with any failure, a timeout as much as a failed audit."""
    seed = int(os.environ.get("POSTFLOW_CAMPAIGN_SEED") or time.time_ns() % 1_000_000)
    print(f"replay with POSTFLOW_CAMPAIGN_SEED={seed}")
    return seed


async def drop_gradually(stack: Stack, staged: dict[str, tuple[Path, str]], rng: random.Random) -> None:
    for relpath, (path, _) in staged.items():
        await asyncio.sleep(rng.uniform(0.0, 0.6))  # a random moment, not a synchronisation
        drop(stack, relpath, path)


async def jobs(stack: Stack) -> list[dict] | None:
    """Every job, from the dashboard's REST API (which asks the watcher's ListJobs); None
    while the dashboard or the watcher is down."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{stack.dashboard_url}/api/jobs", params={"page_size": 500})
    except httpx.HTTPError:
        return None
    return response.json()["jobs"] if response.status_code == 200 else None


async def settled(stack: Stack, paths: set[str], timeout: float) -> dict[str, dict]:
    """Waits until every path has a job in a final state; returns the jobs by path."""

    async def all_final() -> dict[str, dict] | None:
        listed = await jobs(stack)
        if listed is None:
            return None
        by_path = {job["path"]: job for job in listed if job["path"] in paths}
        return by_path if len(by_path) == len(paths) and all(j["state"] in FINAL for j in by_path.values()) else None

    return await wait_for(all_final, timeout=timeout, interval=0.3, message=f"{len(paths)} jobs to finish")


@dataclass
class Audit:
    files: int
    jobs: dict[str, dict]  # by relative path
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def audit(expected: dict[str, str], emulator_files: list[dict], by_path: dict[str, dict],
          deleted: list[dict]) -> Audit:
    """Each expected file (relpath → sha256) must be one DONE job and exactly one Frame.io
    file in its folder, complete, with the same bytes, and no complete copy of it may have
    been deleted along the way (only incomplete attempts are); anything else is lost or
    duplicated."""
    result = Audit(files=len(expected), jobs=by_path)
    for relpath, digest in expected.items():
        folder, _, name = relpath.rpartition("/")

        def same_file(f: dict, name: str = name, folder: str = folder) -> bool:
            return f["name"] == name and f["folder_path"].strip("/") == folder

        copies = [f for f in emulator_files if same_file(f)]
        complete = [f for f in copies if f["upload_complete"] and f["sha256"] == digest]
        deleted_complete = [f for f in deleted if same_file(f) and f["upload_complete"]]
        job = by_path.get(relpath)
        if not complete or job is None or job["state"] != "done":
            result.lost.append(relpath)
            result.problems.append(f"{relpath}: job {job and job['state']} ({job and job['error']}), "
                                   f"{len(complete)} complete of {len(copies)} on Frame.io")
        elif len(copies) > 1 or deleted_complete:
            result.duplicated.append(relpath)
            result.problems.append(f"{relpath}: {len(copies)} files on Frame.io, "
                                   f"{len(deleted_complete)} complete ones deleted")
    return result


async def verify_delivery(stack: Stack, expected: dict[str, str], tally: Tally, timeout: float = 120) -> Audit:
    by_path = await settled(stack, set(expected), timeout)
    report = await stack.emulator_report()
    result = audit(expected, report["files"], by_path, report["deleted"])
    tally.delivery(result.files, len(result.lost), len(result.duplicated))
    return result


def error_lines(stack: Stack) -> list[str]:
    """ERROR lines and tracebacks in the services' logs."""
    return [line for text in service_logs(stack).values() for line in text.splitlines()
            if " ERROR " in line or line.startswith("Traceback")]


def log_lines(stack: Stack, needle: str) -> list[str]:
    return [line for text in service_logs(stack).values() for line in text.splitlines() if needle in line]


def pids(stack: Stack) -> dict[str, int | None]:
    return {name: stack.pid(name) for name in SERVICES}


async def assert_still_running(stack: Stack, before: dict[str, int | None]) -> None:
    """Every service SERVING (dashboard: /livez 200) with the pid it had before."""
    for name in ("auth", "watcher", "streamer"):
        assert await check_health(stack.address(name), timeout=5) == "SERVING", name
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{stack.dashboard_url}/livez")).status_code == 200
    assert pids(stack) == before, "a service restarted"
