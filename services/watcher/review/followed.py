"""The review loop's questions to the job ledger: which delivered jobs are followed, whose a
Frame.io file is, and the newest job of a path."""

from __future__ import annotations

from services.watcher import schema
from services.watcher.jobs import DONE, Job
from services.watcher.ledger import Ledger

DELIVERED_SINCE = f"state = {DONE} AND file_id != '' AND delivered_at >= ?"


async def delivered_since(ledger: Ledger, since: float) -> list[Job]:
    """Every job delivered at `since` or later, oldest delivery first."""
    rows = await ledger.run(lambda: ledger.db.execute(
        f"SELECT * FROM jobs WHERE {DELIVERED_SINCE} ORDER BY delivered_at", (since,)).fetchall())
    return [schema.job_from_row(row) for row in rows]


async def count_delivered_since(ledger: Ledger, since: float) -> int:
    """How many jobs `delivered_since` lists."""
    row = await ledger.run(lambda: ledger.db.execute(
        f"SELECT COUNT(*) FROM jobs WHERE {DELIVERED_SINCE}", (since,)).fetchone())
    return int(row[0])


async def delivered_file(ledger: Ledger, file_id: str, since: float) -> Job | None:
    """The job that delivered Frame.io file `file_id` at `since` or later, if any."""
    row = await ledger.run(lambda: ledger.db.execute(
        f"SELECT * FROM jobs WHERE state = {DONE} AND delivered_at >= ? AND file_id = ? "
        "ORDER BY delivered_at DESC LIMIT 1", (since, file_id)).fetchone())
    return None if row is None else schema.job_from_row(row)


async def newest_of_path(ledger: Ledger, path: str, pipeline: str) -> Job | None:
    """The newest delivered job of `path` (in `pipeline`; "" = any), or else its newest job."""
    where, args = ("path = ? AND pipeline = ?", (path, pipeline)) if pipeline else ("path = ?", (path,))
    row = await ledger.run(lambda: ledger.db.execute(
        f"SELECT * FROM jobs WHERE {where} ORDER BY state = {DONE} DESC, delivered_at DESC, created_at DESC "
        "LIMIT 1", args).fetchone())
    return None if row is None else schema.job_from_row(row)
