"""Scope per person (`dashboard.oidc.pipelines`): which pipelines a request may see. `allowed`
is the person's pipelines, or None for every pipeline (people matching no entry, scripts)."""

from __future__ import annotations

from postflow.core.errors import PermissionDenied


def within(requested: list[str], allowed: tuple[str, ...] | None) -> list[str]:
    """The pipelines a list asks the watcher for: `requested` (empty: all), kept to `allowed`;
    a requested pipeline outside it is refused, named."""
    if allowed is None:
        return requested
    for name in requested:
        check(name, allowed)
    return requested or list(allowed)


def check(pipeline: str, allowed: tuple[str, ...] | None) -> None:
    if allowed is not None and pipeline not in allowed:
        raise PermissionDenied(f"pipeline {pipeline!r}: you see only {', '.join(allowed)}")


def visible_job(job: dict, allowed: tuple[str, ...] | None) -> bool:
    return allowed is None or job.get("pipeline") in allowed


def scoped_snapshot(snapshot: dict, allowed: tuple[str, ...] | None) -> dict:
    """`snapshot` with only the jobs (and job log lines) of `allowed` pipelines."""
    if allowed is None:
        return snapshot
    return {**snapshot, "jobs": [job for job in snapshot["jobs"] if visible_job(job, allowed)],
            "events": [entry for entry in snapshot["events"] if visible_job(entry, allowed)
                       or "pipeline" not in entry]}
