"""What the `postflow` command prints: status, job lists, one job's line, the terminal
progress bar of `submit --wait`, and the audit log."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

from postflow.core.bwlimit import describe_rate
from postflow.core.dates import iso_utc_minute
from postflow.core.mesh.audit import AuditEntry
from postflow.core.pipelines import DEFAULT
from postflow.core.protos import label
from postflow.v1 import common_pb2, watcher_pb2

BAR_WIDTH = 30


def print_status(status: dict, out: TextIO = sys.stdout) -> None:
    for name, health in status["services"].items():
        print(f"{name:<10} {health}", file=out)
    for view in status.get("connections") or ([status["auth"]] if status["auth"] else []):
        named = "" if view.get("connection", DEFAULT) == DEFAULT else f"[{view['connection']}] "
        print(f"frame.io   {named}{frameio(view)}", file=out)
    if status["tunnel"]:
        tunnel = status["tunnel"]
        print(f"tunnel     {tunnel['mode']} {tunnel['state']} {tunnel['url'] or '(no URL yet)'}", file=out)
        print(f"bandwidth  {bandwidth(tunnel['bandwidth_limit_bps'], tunnel['bandwidth_schedule'])}", file=out)
    if status["watch_root"]:
        root = status["watch_root"]
        print(f"watch root {root['path']} {'available' if root['available'] else 'UNAVAILABLE: ' + root['problem']}",
              file=out)
    if status["jobs"] is not None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(status["jobs"].items()) if v) or "none"
        print(f"jobs       {counts}", file=out)
    if status.get("certificates"):
        print(f"certs      {certificates(status['certificates'])}", file=out)
    if status.get("metrics"):
        print(f"metrics    {', '.join(f'{name} {address}' for name, address in status['metrics'].items())}",
              file=out)


def named(connection: str) -> str:
    """" (connection b)" after what a command says of a connection other than the default one."""
    return "" if connection in ("", DEFAULT) else f" (connection {connection})"


def frameio(auth: dict) -> str:
    """The connection, its user, and the re-login deadline (marked when it is near)."""
    line = f"{auth['state']}{' as ' + auth['user'] if auth['user'] else ''}"
    if auth["state"] == "connected" and auth["reauth_deadline"]:
        marker = "⚠ " if auth["reauth_soon"] else ""
        line += f", {marker}reconnect by {iso_utc_minute(auth['reauth_deadline'])}"
    return line


def certificates(entries: list[dict]) -> str:
    """"ok" and the next expiry, or each certificate that needs attention."""
    attention = [entry for entry in entries if entry["state"] != "ok"]
    if attention:
        return "⚠ " + "; ".join(describe_certificate(entry) for entry in attention)
    first = min(entries, key=lambda entry: entry["not_after"])
    when = iso_utc_minute(first["not_after"])
    return f"ok (next to expire: {first['identity']} on {when}, in {first['days_left']} days)"


def describe_certificate(entry: dict) -> str:
    """One certificate's trouble (a `CertStatus.to_dict()`): "watcher expires … (in 12 days)"."""
    name, state = entry["identity"], entry["state"]
    if state in ("missing", "invalid"):
        return f"{name} {state}: {entry['problem']}"
    ends = iso_utc_minute(entry["not_after"])
    if state == "expired":
        return f"{name} expired on {ends}"
    return f"{name} expires on {ends} (in {entry['days_left']} days)" if state == "expiring" else f"{name} ok"


def bandwidth(limit_bps: int, schedule: str) -> str:
    """The limit now, and the timetable it comes from when there is one."""
    now = describe_rate(limit_bps or None)
    return f"{now} (transfer.bwlimit \"{schedule}\")" if "," in schedule else now


def print_jobs(jobs: list[common_pb2.Job], out: TextIO = sys.stdout) -> None:
    if not jobs:
        print("no jobs", file=out)
    for job in jobs:
        progress = f"{100 * job.bytes_done // job.size if job.size else 0:>3}%"
        detail = job.error or job.waiting_reason or job.view_url
        print(f"{job.id}  {label(common_pb2.JobState, job.state):<10} {progress}  {job.pipeline}  {job.path}  {detail}",
              file=out)


def pipeline_to_dict(pipeline: watcher_pb2.PipelineStatus) -> dict:
    return {"name": pipeline.name, "root": pipeline.root, "connection": pipeline.connection,
            "project": pipeline.project, "jobs_by_state": dict(pipeline.jobs_by_state),
            "unrouted": pipeline.unrouted, "waiting_on_start": pipeline.waiting_on_start,
            "root_available": pipeline.root_available, "root_problem": pipeline.root_problem,
            "on_start": pipeline.on_start, "after_delivery": pipeline.after_delivery}


def print_pipelines(pipelines: list[watcher_pb2.PipelineStatus], out: TextIO = sys.stdout) -> None:
    """One line a pipeline: name, root, connection → project, job counts, what was not uploaded."""
    if not pipelines:
        print("no pipelines", file=out)
    for pipeline in pipelines:
        counts = ", ".join(f"{count} {state}" for state, count in sorted(pipeline.jobs_by_state.items()) if count)
        extra = [f"{pipeline.unrouted} unrouted"] if pipeline.unrouted else []
        if pipeline.waiting_on_start:
            extra.append(f"{pipeline.waiting_on_start} present at start, not uploaded")
        if not pipeline.root_available:
            extra.append(f"root unavailable: {pipeline.root_problem}")
        project = pipeline.project or "(default project)"
        print(f"{pipeline.name}  {pipeline.root}  {pipeline.connection} → {project}  {counts or 'no jobs'}"
              + "".join(f"; {item}" for item in extra), file=out)


def print_job(verb: str, job: common_pb2.Job, out: TextIO = sys.stdout) -> None:
    """`queued <id> <path>`, `retrying …`, `cancelled …`."""
    print(f"{verb} {job.id} {job.path}", file=out)


def print_progress(job: common_pb2.Job, out: TextIO = sys.stderr) -> None:
    """Redraws the progress bar in place."""
    fraction = job.bytes_done / job.size if job.size else 0.0
    bar = "#" * int(BAR_WIDTH * fraction)
    state = label(common_pb2.JobState, job.state)
    print(f"\r[{bar:<{BAR_WIDTH}}] {100 * fraction:5.1f}% {state:<10}", end="", file=out, flush=True)


def end_progress(out: TextIO = sys.stderr) -> None:
    print(file=out)


def print_outcome(job: common_pb2.Job, out: TextIO = sys.stdout) -> None:
    """A finished job: its Frame.io view URL, else its error, else its state."""
    print(job.view_url or job.error or label(common_pb2.JobState, job.state), file=out)


AUDIT_COLUMNS = ("time", "service", "who", "action", "what", "outcome")


def print_audit(entries: list[AuditEntry], out: TextIO = sys.stdout) -> None:
    """A table of audit entries, one a line, times in UTC."""
    rows = [AUDIT_COLUMNS] + [(datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S"), e.service, e.who,
                               e.action, e.what, e.outcome) for e in entries]
    widths = [max(len(row[column]) for row in rows) for column in range(len(AUDIT_COLUMNS) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]), file=out)
