"""A notification's words: one message for the events of a batch (the bodies of
services.watcher.outbound.events), grouped by kind, each group listing at most `LISTED` of
its events, so 300 files delivered in one window make one readable message."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from postflow.core.bwlimit import describe_rate

LISTED = 20  # events named per kind; the others are counted
ORDER = ("failed", "reconnect_needed", "tunnel_down", "relogin_soon", "cancelled", "approved", "comment_created",
         "comment_completed", "delivered", "queued", "digest")
FAILURE, WARNING, SUCCESS, INFO = "failure", "warning", "success", "info"  # Apprise's notify types
SEVERITY = {"failed": FAILURE, "reconnect_needed": FAILURE, "tunnel_down": FAILURE, "relogin_soon": WARNING,
            "cancelled": WARNING, "delivered": SUCCESS, "approved": SUCCESS, "comment_created": INFO,
            "comment_completed": INFO}

Body = dict[str, Any]


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    severity: str


def file_size(size: int) -> str:
    return describe_rate(size).removesuffix("/s")


def job_line(body: Body) -> str:
    job = body["job"]
    where = f" (pipeline {job['pipeline']})" if job["pipeline"] != "default" else ""
    if body["type"] == "delivered":
        return f"{job['path']}{where}: {job['view_url'] or 'on Frame.io'}"
    if body["type"] == "failed":
        return f"{job['path']}{where}: {job['error'] or 'failed'}. Retry: {job['dashboard_url']}"
    if body["type"] == "cancelled":
        return f"{job['path']}{where}: {job['error'] or 'cancelled'}"
    return f"{job['path']}{where}"


def reconnect_line(body: Body) -> str:
    detail = body["detail"]
    return (f"Frame.io connection {detail['connection']} needs reconnecting ({detail['message'] or 'login ended'}); "
            f"uploads wait, nothing is lost. Reconnect: {detail['reconnect_url']}")


def relogin_line(body: Body) -> str:
    detail = body["detail"]
    return (f"The Frame.io login of connection {detail['connection']} ends on {detail['deadline']}: "
            f"reconnect before then: {detail['reconnect_url']}")


def tunnel_line(body: Body) -> str:
    detail = body["detail"]
    return (f"The tunnel has been down for {round(detail['down_for_s'] / 60)} min (since {detail['since']})"
            f"{': ' + detail['message'] if detail['message'] else ''}. Pulls wait; pushes go on.")


def review_line(body: Body) -> str:
    """A comment made or completed, or an approval: the file and version, where, who, what, the link."""
    job, detail = body["job"], body["detail"]
    where = f" at {detail['timecode']}" if detail.get("timecode") else ""
    who = detail.get("author") or "someone"
    if body["type"] == "approved":
        said = f"approved by {who}" if detail.get("author") else "approved"
    else:
        verb = "completed the comment" if body["type"] == "comment_completed" else "commented"
        said = f"{who} {verb}: “{detail.get('text', '')}”"
    link = detail.get("link") or job["view_url"]
    return f"{job['path']} v{detail.get('version') or 1}{where}: {said}" + (f" {link}" if link else "")


def digest_lines(body: Body, pipelines: Collection[str]) -> list[str]:
    lines = []
    for name, counts in sorted(body["detail"]["pipelines"].items()):
        if pipelines and name not in pipelines:
            continue
        failed = f" ({', '.join(counts['failed_paths'])})" if counts["failed_paths"] else ""
        lines.append(f"{name}: {counts['delivered']} delivered ({file_size(counts['bytes'])}), "
                     f"{counts['failed']} failed{failed}")
    return lines or ["nothing delivered or failed"]


HEADINGS: dict[str, Callable[[int], str]] = {
    "delivered": lambda n: f"{n} file{'s' * (n != 1)} delivered to Frame.io",
    "failed": lambda n: f"{n} file{'s' * (n != 1)} failed",
    "cancelled": lambda n: f"{n} job{'s' * (n != 1)} cancelled",
    "queued": lambda n: f"{n} file{'s' * (n != 1)} queued",
    "reconnect_needed": lambda n: "Frame.io reconnect needed",
    "relogin_soon": lambda n: "Frame.io login ends soon",
    "tunnel_down": lambda n: "Tunnel down",
    "digest": lambda n: "Daily digest (the last 24 hours)",
    "approved": lambda n: f"{n} file{'s' * (n != 1)} approved",
    "comment_created": lambda n: f"{n} new comment{'s' * (n != 1)}",
    "comment_completed": lambda n: f"{n} comment{'s' * (n != 1)} completed",
}
LINES: dict[str, Callable[[Body], str]] = {"reconnect_needed": reconnect_line, "relogin_soon": relogin_line,
                                           "tunnel_down": tunnel_line, "approved": review_line,
                                           "comment_created": review_line, "comment_completed": review_line}


def compose(bodies: list[Body], pipelines: Collection[str] = ()) -> Message:
    """One message for every event of `bodies` (in the order they happened); a digest lists
    only `pipelines` when given."""
    groups: dict[str, list[Body]] = {}
    for body in bodies:
        groups.setdefault(body["type"], []).append(body)
    sections, counts = [], []
    for kind in (kind for kind in ORDER if kind in groups):
        events = groups[kind]
        heading = HEADINGS[kind](len(events))
        counts.append(heading)
        if kind == "digest":
            lines = digest_lines(events[-1], pipelines)
        else:
            lines = [LINES.get(kind, job_line)(body) for body in events[:LISTED]]
            if len(events) > LISTED:
                lines.append(f"… and {len(events) - LISTED} more")
        sections.append("\n".join([f"{heading}:", *(f"• {line}" for line in lines)]))
    severities = {SEVERITY.get(kind, INFO) for kind in groups}
    severity = next((level for level in (FAILURE, WARNING, SUCCESS) if level in severities), INFO)
    if len(bodies) == 1 and bodies[0]["job"]:
        job = bodies[0]["job"]
        title = f"PostFlow: {job['name']} {bodies[0]['type'].replace('_', ' ')}"
    else:
        title = f"PostFlow: {', '.join(counts)}"
    return Message(title, "\n\n".join(sections), severity)
