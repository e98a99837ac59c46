"""A job: its row, its states and the transitions between them (its wire form: job_proto.py).

Every change to a job is one of the transitions below: a function of the job (and of what
happened) that returns a `Change`, the fields to set and the message of the event that
records it. The ledger applies nothing else. They come from three places:

- the running attempt's own steps (`start_attempt` … `deliver`), written only while the
  epoch the attempt began in is still the job's;
- the attempt's outcome, decided by the orchestrator when it ends (`back_off`,
  `wait_out_rate_limit`, `retry_later`, `wait_reconnect`, `wait_unstable`, `fail`, `cancel`);
- changes from outside the attempt (`restart_on_new_content`, `retry`, `cancel`,
  `wait_unstable`), which bump the epoch so that the attempt's later writes are void.

Those asked for through the API (`retry`, `cancel_requested`, and SubmitFile's new job) record
what was asked in `acted` and who asked in `acted_by` (the person the dashboard acts for, ""
when not known); nothing else changes them, so a job shows the last request until the next.

Transitions by the state a job is in (the cell is its state after; `=` the same; `.` not allowed).
"record" stands for the attempt's bookkeeping that keeps the state: folder_ready,
stale_files_removed, found_file, published, creating_push, discard_upload, folder_gone, stacked.

    transition              QUEUED    PREPARING UPLOADING VERIFYING WAITING   DONE   FAILED  CANCELLED
    start_attempt           PREPARING .         .         .         PREPARING .      .       .
    record                  .         =         =         =         .         .      .       .
    upload_started          .         UPLOADING UPLOADING UPLOADING .         .      .       .
    all_bytes_sent          .         .         VERIFYING .         .         .      .       .
    verify                  .         VERIFYING VERIFYING VERIFYING .         .      .       .
    deliver                 .         .         .         DONE      .         .      .       .
    after_delivery_ran      .         .         .         .         .         =      .       .
    back_off                WAITING   WAITING   WAITING   WAITING   WAITING   .      .       .
    wait_out_rate_limit     WAITING   WAITING   WAITING   WAITING   WAITING   .      .       .
    wait_reconnect          WAITING   WAITING   WAITING   WAITING   WAITING   .      .       .
    wait_unstable           WAITING   WAITING   WAITING   WAITING   WAITING   =      =       =
    fail                    FAILED    FAILED    FAILED    FAILED    FAILED    .      .       .
    cancel                  CANCELLED CANCELLED CANCELLED CANCELLED CANCELLED .      .       =
    retry                   .         .         .         .         .         .      QUEUED  QUEUED
    restart_on_new_content  QUEUED    QUEUED    QUEUED    QUEUED    QUEUED    .      .       .

`retry_later` is `back_off`, or `fail` once the job has used its attempts. A WAITING job
waits for a reason (`WaitingKind`): only BACKOFF jobs become due by the clock, RECONNECT
jobs when Frame.io is connected again, UNSTABLE jobs when the scanner restarts them on
settled content. `wait_unstable` leaves a finished job, or one that already waits for
that, as it is (the scanner may report a change just as the job ends). `deliver` records the
pipeline's after-delivery action as due; `after_delivery_ran` (from outside the attempt, which
has ended) records that it ran, how it went in its event (services/watcher/after_delivery.py).
"""

from __future__ import annotations

import dataclasses
import enum
import posixpath
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from postflow.core.errors import FailedPrecondition
from postflow.core.protos import label
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.scanner import FileStat

JobState: TypeAlias = common_pb2.JobState
TransferMode: TypeAlias = common_pb2.TransferMode

QUEUED = common_pb2.JOB_STATE_QUEUED
PREPARING = common_pb2.JOB_STATE_PREPARING
UPLOADING = common_pb2.JOB_STATE_UPLOADING
VERIFYING = common_pb2.JOB_STATE_VERIFYING
WAITING = common_pb2.JOB_STATE_WAITING
DONE = common_pb2.JOB_STATE_DONE
FAILED = common_pb2.JOB_STATE_FAILED
CANCELLED = common_pb2.JOB_STATE_CANCELLED

ACTIVE = frozenset({QUEUED, PREPARING, UPLOADING, VERIFYING, WAITING})
IN_FLIGHT = frozenset({PREPARING, UPLOADING, VERIFYING})
FINAL = frozenset({DONE, FAILED, CANCELLED})

PULL = common_pb2.TRANSFER_MODE_PULL
PUSH = common_pb2.TRANSFER_MODE_PUSH

CREATED = watcher_pb2.JOB_EVENT_KIND_CREATED
STATE = watcher_pb2.JOB_EVENT_KIND_STATE
PROGRESS = watcher_pb2.JOB_EVENT_KIND_PROGRESS

UNSTABLE_REASON = "the file is changing on disk; waiting for it to settle"


class WaitingKind(enum.StrEnum):
    """Why a WAITING job waits."""

    NONE = ""
    BACKOFF = "backoff"
    RECONNECT = "reconnect"
    UNSTABLE = "unstable"


class Conflict(FailedPrecondition):
    """The job is not in a state that allows the change; the message says why."""


class IllegalTransition(Exception):
    """A transition asked of a job in a state it does not leave that way (a bug)."""


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def state_name(state: JobState) -> str:
    return label(common_pb2.JobState, state)


@dataclass(frozen=True)
class Job:
    id: str
    path: str
    size: int
    mtime_ns: int
    state: JobState
    max_attempts: int
    created_at: float
    updated_at: float
    inode: int = 0
    mode: TransferMode = common_pb2.TRANSFER_MODE_UNSPECIFIED  # chosen for the current attempt
    requested_mode: TransferMode = common_pb2.TRANSFER_MODE_UNSPECIFIED  # from SubmitFile; as configured if unset
    version_policy: int = 0
    destination: str = ""  # Frame.io folder path under the project root
    attempts: int = 0
    error: str = ""
    bytes_done: int = 0
    rate_bps: float = 0.0
    folder_id: str = ""
    file_id: str = ""
    stack_id: str = ""
    version: int = 0
    view_url: str = ""
    ticket_id: str = ""
    source_url: str = ""
    create_started_at: float = 0.0  # wall time just before the attempt asked Frame.io to create the file
    stale_file_ids: tuple[str, ...] = ()  # Frame.io files of abandoned attempts, to delete
    trace_id: str = ""
    traceparent: str = ""
    tracestate: str = ""
    next_attempt_at: float = 0.0
    waiting_reason: str = ""
    waiting_kind: WaitingKind = WaitingKind.NONE
    epoch: int = 0  # bumped by every change made from outside the running attempt
    pipeline: str = "default"  # whose root `path` is relative to
    connection: str = "default"  # the Frame.io connection that delivers it
    project: str = ""  # the destination project as routed: an id, a name, or "" for the connection's default
    route_rule: str = ""  # why it goes there (the rule that matched)
    after_delivery_due: str = ""  # the pipeline's after_delivery ("move", "sidecar") at delivery, until it ran
    delivered_at: float = 0.0  # wall time it became DONE: on Frame.io, verified (history counts from it)
    acted: str = ""  # the last change asked through the API: "submitted", "retried", "cancelled"
    acted_by: str = ""  # who asked it: the person the dashboard acted for, "" when not known
    connections: int = field(default=0, metadata={"stored": False})  # open transfer connections now

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def every_byte_sent(self) -> bool:
        """Frame.io has had every byte of the attempt's file (it may still be processing it)."""
        return bool(self.file_id) and self.state != UPLOADING and self.bytes_done >= self.size

    def recordable_progress(self, bytes_done: int) -> int:
        """What a progress report may record: while uploading, less than the whole file. Only
        `all_bytes_sent` records that: bytes handed to storage are not stored until it answers,
        and a failed attempt that had sent its last part must not pass for `every_byte_sent`."""
        return min(bytes_done, max(self.size - 1, 0)) if self.state == UPLOADING else bytes_done

    def replace(self, **changes: Any) -> Job:
        return dataclasses.replace(self, **changes)


COLUMNS = tuple(f.name for f in dataclasses.fields(Job) if f.metadata.get("stored", True))


@dataclass(frozen=True)
class Change:
    """What one transition does to a job: the fields it sets and the message of its event.
    Made only by the transitions of this module."""

    fields: dict[str, Any]
    message: str = ""


def _require(job: Job, allowed: Collection[JobState], transition: str) -> None:
    if job.state not in allowed:
        raise IllegalTransition(f"{transition}: job {job.id} is {state_name(job.state)}")


_NOT_WAITING = {"waiting_kind": WaitingKind.NONE, "waiting_reason": "", "next_attempt_at": 0.0}


# -- the attempt's own steps ----------------------------------------------------------------


def start_attempt(job: Job) -> Change:
    _require(job, (QUEUED, WAITING), "start_attempt")
    return Change({"state": PREPARING, "attempts": job.attempts + 1, "error": "", **_NOT_WAITING},
                  f"attempt {job.attempts + 1} of {job.max_attempts}")


def _record(job: Job, transition: str, message: str, **fields: Any) -> Change:
    _require(job, IN_FLIGHT, transition)
    return Change(fields, message)


def folder_ready(job: Job, folder_id: str) -> Change:
    return _record(job, "folder_ready", "Frame.io folder ready", folder_id=folder_id)


def stale_files_removed(job: Job) -> Change:
    return _record(job, "stale_files_removed", "removed the Frame.io files of earlier content", stale_file_ids=())


def found_file(job: Job, file_id: str) -> Change:
    return _record(job, "found_file", "found the Frame.io file of the interrupted attempt", file_id=file_id)


def published(job: Job, ticket_id: str, source_url: str, at: float) -> Change:
    return _record(job, "published", "published", mode=PULL, ticket_id=ticket_id, source_url=source_url,
                   create_started_at=at)


def creating_push(job: Job, at: float) -> Change:
    return _record(job, "creating_push", "creating the Frame.io file (push)", mode=PUSH, create_started_at=at)


def discard_upload(job: Job) -> Change:
    """Forgets the attempt's Frame.io file and publication, and the bytes sent to them."""
    return _record(job, "discard_upload", "discarded an incomplete upload", file_id="", ticket_id="",
                   source_url="", create_started_at=0.0, bytes_done=0, rate_bps=0.0)


def folder_gone(job: Job) -> Change:
    return _record(job, "folder_gone", "the Frame.io folder is gone", folder_id="", create_started_at=0.0)


def stacked(job: Job, stack_id: str) -> Change:
    return _record(job, "stacked", "added to a version stack", stack_id=stack_id)


def upload_started(job: Job, file_id: str) -> Change:
    _require(job, IN_FLIGHT, "upload_started")
    how = "pull" if job.mode == PULL else "push"
    return Change({"state": UPLOADING, "file_id": file_id}, f"upload started ({how})")


def all_bytes_sent(job: Job) -> Change:
    _require(job, (UPLOADING,), "all_bytes_sent")
    return Change({"state": VERIFYING, "bytes_done": job.size}, "all bytes sent; waiting for Frame.io")


def verify(job: Job) -> Change:
    _require(job, IN_FLIGHT, "verify")
    return Change({"state": VERIFYING}, "verifying")


def deliver(job: Job, view_url: str, stack_id: str, version: int, after_delivery: str, at: float) -> Change:
    """`after_delivery`: the pipeline's action, due from now on unless "none"; `at`: when it
    reached Frame.io (the history counts from it)."""
    _require(job, (VERIFYING,), "deliver")
    return Change({"state": DONE, "view_url": view_url, "stack_id": stack_id, "version": version,
                   "bytes_done": job.size, "rate_bps": 0.0, "error": "", "delivered_at": at,
                   "after_delivery_due": "" if after_delivery == "none" else after_delivery}, "delivered")


def after_delivery_ran(job: Job, message: str) -> Change | None:
    """The action due after delivery has run (`message` says how it went); None when none is
    due (it ran already)."""
    _require(job, (DONE,), "after_delivery_ran")
    if not job.after_delivery_due:
        return None
    return Change({"after_delivery_due": ""}, message)


# -- the attempt's outcome ------------------------------------------------------------------


def _wait(job: Job, transition: str, kind: WaitingKind, reason: str, **fields: Any) -> Change:
    _require(job, ACTIVE, transition)
    return Change({"state": WAITING, "waiting_kind": kind, "waiting_reason": reason, **fields})


def _given_back(job: Job, give_back_attempt: bool) -> int:
    """The attempt count without this run's attempt, when the run started one."""
    return job.attempts - 1 if give_back_attempt and job.attempts > 0 else job.attempts


def back_off(job: Job, error: str, delay_s: float, now: float) -> Change:
    return _wait(job, "back_off", WaitingKind.BACKOFF, f"retrying in {delay_s:.0f}s", next_attempt_at=now + delay_s,
                 error=error)


def wait_out_rate_limit(job: Job, error: str, delay_s: float, now: float, *, give_back_attempt: bool) -> Change:
    """A long 429 storm is waited out: the attempt is given back, whatever the count."""
    return _wait(job, "wait_out_rate_limit", WaitingKind.BACKOFF,
                 f"Frame.io rate limit; retrying in {delay_s:.0f}s", next_attempt_at=now + delay_s, error=error,
                 attempts=_given_back(job, give_back_attempt))


def wait_for_root(job: Job, error: str, delay_s: float, now: float, *, give_back_attempt: bool) -> Change:
    """The watch root went away under an attempt: the attempt is given back, and the job runs
    again once the root is back."""
    return _wait(job, "wait_for_root", WaitingKind.BACKOFF, "watch root unavailable", next_attempt_at=now + delay_s,
                 error=error, attempts=_given_back(job, give_back_attempt))


def retry_later(job: Job, error: str, delay_s: float, now: float) -> Change:
    if job.attempts >= job.max_attempts:
        return fail(job, f"{error} (gave up after {job.attempts} attempts)")
    return back_off(job, error, delay_s, now)


def wait_reconnect(job: Job, error: str, *, give_back_attempt: bool) -> Change:
    return _wait(job, "wait_reconnect", WaitingKind.RECONNECT, "Frame.io reconnect needed", error=error,
                 next_attempt_at=0.0, attempts=_given_back(job, give_back_attempt))


def wait_unstable(job: Job) -> Change | None:
    if job.state not in ACTIVE or (job.state == WAITING and job.waiting_kind == WaitingKind.UNSTABLE):
        return None
    return Change({"state": WAITING, "waiting_kind": WaitingKind.UNSTABLE, "waiting_reason": UNSTABLE_REASON,
                   "next_attempt_at": 0.0, "error": ""}, "the file changed on disk")


def fail(job: Job, error: str) -> Change:
    _require(job, ACTIVE, "fail")
    return Change({"state": FAILED, "error": error, **_NOT_WAITING})


def cancel(job: Job, reason: str) -> Change | None:
    """None when the job is cancelled already."""
    if job.state == CANCELLED:
        return None
    if job.state not in ACTIVE:
        raise Conflict(f"job {job.id} has already finished")
    return Change({"state": CANCELLED, "error": reason, **_NOT_WAITING}, reason)


# -- changes from outside the attempt -------------------------------------------------------


def requested(action: str, person: str) -> tuple[dict[str, str], str]:
    """The fields recording a change asked through the API, and its event's message:
    "retried by alice@example.com", or "retried on request" when the person is not known."""
    return {"acted": action, "acted_by": person}, f"{action} by {person}" if person else f"{action} on request"


def cancel_requested(job: Job, person: str) -> Change | None:
    """`cancel` asked through the API (`person`: who asked, "" when not known)."""
    fields, message = requested("cancelled", person)
    change = cancel(job, message)
    return change and Change({**change.fields, **fields}, message)


def restart_on_new_content(job: Job, file: FileStat) -> Change:
    """Starts over from nothing on the file's new content: its Frame.io file is queued for
    deletion, its publication and progress forgotten, its attempts reset."""
    _require(job, ACTIVE, "restart_on_new_content")
    stale = (*job.stale_file_ids, job.file_id) if job.file_id else job.stale_file_ids
    return Change({
        "state": QUEUED, "size": file.size, "mtime_ns": file.mtime_ns, "inode": file.inode, "attempts": 0,
        "error": "", "bytes_done": 0, "rate_bps": 0.0, "file_id": "", "stack_id": "", "version": 0, "view_url": "",
        "ticket_id": "", "source_url": "", "create_started_at": 0.0, "stale_file_ids": stale, "mode": 0,
        **_NOT_WAITING,
    }, "the file changed on disk; starting again on the new content")


def retry(job: Job, person: str = "", action: str = "retried") -> Change:
    """Asked through the API by `person` ("" when not known): RetryJob, or SubmitFile ("submitted")."""
    if job.state not in (FAILED, CANCELLED):
        raise Conflict(f"job {job.id} is {state_name(job.state)}; only failed or cancelled jobs can be retried")
    fields, message = requested(action, person)
    return Change({"state": QUEUED, "attempts": 0, "error": "", **_NOT_WAITING, **fields}, message)
