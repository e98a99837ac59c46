"""The ledger with pipelines: a ledger from before them rebuilt in place, the same relative
path in two pipelines two jobs, pipelines taking turns at starting, and what was seen but not
uploaded (present at a first start, unrouted)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from postflow.core.errors import InvalidArgument
from postflow.testing.watcher import make_job
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat
from services.watcher.schema import JobQuery
from services.watcher.sightings import Sightings

OLD_JOBS = """CREATE TABLE jobs (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    state INTEGER NOT NULL, max_attempts INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    UNIQUE (path, size, mtime_ns));
CREATE INDEX jobs_by_state ON jobs (state, created_at);"""


def job_in(pipeline: str, path: str, created_at: float, size: int = 10):
    return make_job(FileStat(path, size, 1, 1)).replace(pipeline=pipeline, created_at=created_at)


@pytest.mark.asyncio
async def test_a_ledger_from_before_pipelines_keeps_its_jobs_in_the_default_pipeline(tmp_path):
    path = tmp_path / "ledger.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_JOBS)
    db.execute("INSERT INTO jobs VALUES ('old1', 'SQ01/a.mov', 10, 1, 1, 3, 1.0, 1.0)")
    db.commit()
    db.close()
    ledger = Ledger(path)
    await ledger.open()
    try:
        old = await ledger.get("old1")
        assert (old.pipeline, old.connection, old.path) == ("default", "default", "SQ01/a.mov")
        created, _ = await ledger.register([job_in("showb", "SQ01/a.mov", time.time())], "detected")
        assert len(created) == 1, "the same path, size and mtime in another pipeline is another job"
        assert (await ledger.page(JobQuery(pipelines=["default"]), 10, "")).total == 1
    finally:
        await ledger.close()


@pytest.mark.asyncio
async def test_pipelines_take_turns_and_removed_or_unavailable_ones_wait(ledger):
    now = time.time()
    storm = [job_in("storm", f"f{i}.mov", now - 100 + i) for i in range(6)]
    calm = [job_in("calm", "first.mov", now), job_in("calm", "second.mov", now + 1)]
    other = [job_in("other", "x.mov", now - 200)]
    await ledger.register(storm + calm + other, "detected")
    picked = await ledger.runnable(now + 10, 4, [], ["default"], ["storm", "calm"])
    assert [job.path for job in picked] == ["f0.mov", "first.mov", "f1.mov", "second.mov"]
    assert await ledger.runnable(now + 10, 4, [], ["default"], []) == []


@pytest.mark.asyncio
async def test_filters_by_pipeline_and_a_search_in_the_path(ledger):
    now = time.time()
    await ledger.register([job_in("a", "SQ01/Comp_V1.mov", now), job_in("a", "SQ02/grade.mov", now + 1),
                           job_in("b", "SQ01/comp_v2.mov", now + 2)], "detected")
    found = await ledger.page(JobQuery(search="COMP_v"), 10, "")
    assert sorted(job.path for job in found.jobs) == ["SQ01/Comp_V1.mov", "SQ01/comp_v2.mov"]
    assert [job.pipeline for job in (await ledger.page(JobQuery(pipelines=["b"], search="comp"), 10, "")).jobs] == ["b"]
    assert await ledger.states_by_pipeline() == {"a": {"queued": 2}, "b": {"queued": 1}}


@pytest.mark.asyncio
async def test_files_seen_at_a_first_start_are_not_unknown_and_unrouted_ones_page(ledger):
    sightings = Sightings(ledger)
    assert await sightings.first_start("a") and not await sightings.first_start("a")
    present = [FileStat("old.mov", 5, 7, 1), FileStat("older.mov", 6, 7, 2)]
    await sightings.record_seen("a", present)
    fresh = FileStat("new.mov", 5, 8, 3)
    assert await ledger.unknown("a", [*present, fresh]) == [fresh]
    assert await ledger.unknown("b", present) == present  # another pipeline's root
    await sightings.record_unrouted("a", [(FileStat(f"x{i}.txt", i, 1, i), "no rule") for i in range(5)])
    await sightings.record_unrouted("b", [(FileStat("y.txt", 1, 1, 1), "no rule")])
    assert await sightings.counts() == {"a": (5, 2), "b": (1, 0)}
    page = await sightings.unrouted(["a"], 3, "")
    assert [f.path for f in page.files] == ["x0.txt", "x1.txt", "x2.txt"] and page.total == 5
    rest = await sightings.unrouted(["a"], 3, page.next_token)
    assert [f.path for f in rest.files] == ["x3.txt", "x4.txt"] and rest.next_token == ""
    await sightings.forget_unrouted("a", ["x0.txt"])
    assert (await sightings.unrouted([], 50, "")).total == 5
    assert (await sightings.unrouted(["a", "b"], 50, "")).total == 5
    with pytest.raises(InvalidArgument, match="page_token"):
        await sightings.unrouted(["a"], 3, "garbage")
