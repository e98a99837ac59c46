"""The job state machine, without I/O: every cell of the transition table in jobs.py's
docstring holds, and the transitions compute the fields they promise."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from services.watcher import jobs
from services.watcher.job_proto import to_proto
from services.watcher.jobs import (
    CANCELLED,
    DONE,
    FAILED,
    PREPARING,
    PULL,
    PUSH,
    QUEUED,
    UPLOADING,
    VERIFYING,
    WAITING,
    Change,
    Conflict,
    IllegalTransition,
    Job,
    JobState,
    WaitingKind,
)
from services.watcher.scanner import FileStat

STATES = {"QUEUED": QUEUED, "PREPARING": PREPARING, "UPLOADING": UPLOADING, "VERIFYING": VERIFYING,
          "WAITING": WAITING, "DONE": DONE, "FAILED": FAILED, "CANCELLED": CANCELLED}
NOW = 1_000_000.0
ALICE = "alice@example.com"


def job(state: JobState = QUEUED, **fields) -> Job:
    waiting = {"waiting_kind": WaitingKind.BACKOFF, "waiting_reason": "retrying in 1s"} if state == WAITING else {}
    return Job(id="j1", path="SQ01/a.mov", size=100, mtime_ns=1, state=state, max_attempts=3, created_at=NOW,
               updated_at=NOW, **(waiting | fields))


# Each transition of the table, called with sample arguments; "record" stands for all of these.
CALLS: dict[str, list[Callable[[Job], Change | None]]] = {
    "start_attempt": [jobs.start_attempt],
    "record": [lambda j: jobs.folder_ready(j, "D1"), jobs.stale_files_removed, lambda j: jobs.found_file(j, "F1"),
               lambda j: jobs.published(j, "T1", "https://x/t/1", NOW), lambda j: jobs.creating_push(j, NOW),
               jobs.discard_upload, jobs.folder_gone, lambda j: jobs.stacked(j, "S1")],
    "upload_started": [lambda j: jobs.upload_started(j, "F1")],
    "all_bytes_sent": [jobs.all_bytes_sent],
    "verify": [jobs.verify],
    "deliver": [lambda j: jobs.deliver(j, "https://view", "", 0, "none", 1000.0)],
    "after_delivery_ran": [lambda j: jobs.after_delivery_ran(j.replace(after_delivery_due="move"), "moved")],
    "back_off": [lambda j: jobs.back_off(j, "boom", 2.0, NOW)],
    "wait_out_rate_limit": [lambda j: jobs.wait_out_rate_limit(j, "429", 2.0, NOW, give_back_attempt=False)],
    "wait_reconnect": [lambda j: jobs.wait_reconnect(j, "reconnect", give_back_attempt=False)],
    "wait_unstable": [jobs.wait_unstable],
    "fail": [lambda j: jobs.fail(j, "boom")],
    "cancel": [lambda j: jobs.cancel(j, "cancelled on request"), lambda j: jobs.cancel_requested(j, ALICE)],
    "retry": [jobs.retry, lambda j: jobs.retry(j, ALICE, "submitted")],
    "restart_on_new_content": [lambda j: jobs.restart_on_new_content(j, FileStat(j.path, 200, 2, 7))],
}


def table() -> list[tuple[str, str, str]]:
    """(transition, from state, cell) for every cell of the docstring's table."""
    lines = jobs.__doc__.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["transition", "QUEUED"])
    columns = lines[header].split()[1:]
    cells = []
    for line in lines[header + 1:]:
        if not line.strip():
            break
        name, *row = line.split()
        assert len(row) == len(columns), line
        cells += [(name, state, cell) for state, cell in zip(columns, row, strict=True)]
    return cells


def test_the_table_names_every_transition_and_every_state():
    cells = table()
    assert {name for name, _, _ in cells} == set(CALLS)
    assert {state for _, state, _ in cells} == set(STATES)


@pytest.mark.parametrize(("name", "state", "cell"), table(), ids=lambda value: str(value))
def test_every_cell_of_the_table_holds(name, state, cell):
    for call in CALLS[name]:
        before = job(STATES[state], mode=PULL)
        if cell == ".":
            with pytest.raises((IllegalTransition, Conflict)):
                call(before)
            continue
        change = call(before)
        if cell == "=":
            assert change is None or "state" not in change.fields, (name, state)
        else:
            assert change is not None and change.fields["state"] == STATES[cell], (name, state)


def test_an_attempt_counts_and_clears_the_wait():
    change = jobs.start_attempt(job(WAITING, attempts=1, error="boom", next_attempt_at=NOW + 5))
    assert change.fields["attempts"] == 2 and change.message == "attempt 2 of 3"
    assert (change.fields["error"], change.fields["waiting_kind"], change.fields["next_attempt_at"]) == ("", "", 0.0)


def test_backoff_waits_by_the_clock_and_gives_up_after_the_last_attempt():
    change = jobs.retry_later(job(PREPARING, attempts=2), "boom", 4.0, NOW)
    assert change.fields["state"] == WAITING and change.fields["waiting_kind"] == WaitingKind.BACKOFF
    assert change.fields["next_attempt_at"] == NOW + 4.0 and change.fields["waiting_reason"] == "retrying in 4s"
    gave_up = jobs.retry_later(job(PREPARING, attempts=3), "boom", 4.0, NOW)
    assert gave_up.fields["state"] == FAILED and gave_up.fields["error"] == "boom (gave up after 3 attempts)"


def test_waiting_for_a_reconnect_or_a_rate_limit_gives_the_attempt_back_only_if_this_run_took_it():
    running = job(PREPARING, attempts=2)
    assert jobs.wait_reconnect(running, "x", give_back_attempt=True).fields["attempts"] == 1
    assert jobs.wait_reconnect(running, "x", give_back_attempt=False).fields["attempts"] == 2
    limited = jobs.wait_out_rate_limit(running, "429", 3.0, NOW, give_back_attempt=True)
    assert limited.fields["attempts"] == 1 and limited.fields["waiting_reason"].startswith("Frame.io rate limit")
    assert jobs.wait_reconnect(running, "x", give_back_attempt=True).fields["waiting_kind"] == WaitingKind.RECONNECT


def test_new_content_starts_over_and_queues_the_old_frameio_file_for_deletion():
    before = job(UPLOADING, attempts=2, file_id="F2", stale_file_ids=("F1",), ticket_id="T", bytes_done=50,
                 mode=PUSH)
    fields = jobs.restart_on_new_content(before, FileStat(before.path, 200, 9, 4)).fields
    assert (fields["size"], fields["mtime_ns"], fields["inode"], fields["attempts"]) == (200, 9, 4, 0)
    assert fields["stale_file_ids"] == ("F1", "F2")
    assert (fields["file_id"], fields["ticket_id"], fields["bytes_done"], fields["mode"]) == ("", "", 0, 0)
    assert jobs.restart_on_new_content(job(QUEUED), FileStat("a", 1, 1, 1)).fields["stale_file_ids"] == ()


def test_a_file_already_waiting_to_settle_is_left_as_it_is():
    assert jobs.wait_unstable(job(WAITING, waiting_kind=WaitingKind.UNSTABLE)) is None
    assert jobs.wait_unstable(job(DONE)) is None
    change = jobs.wait_unstable(job(UPLOADING))
    assert change is not None and change.fields["waiting_kind"] == WaitingKind.UNSTABLE


def test_delivery_and_the_last_bytes_record_the_whole_size():
    assert jobs.all_bytes_sent(job(UPLOADING, bytes_done=10)).fields["bytes_done"] == 100
    done = jobs.deliver(job(VERIFYING, rate_bps=5.0, error="old"), "https://view", "S", 2, "none", 1234.5).fields
    assert (done["bytes_done"], done["rate_bps"], done["error"], done["version"]) == (100, 0.0, "", 2)
    assert done["delivered_at"] == 1234.5, "when it reached Frame.io, kept for the history"


def test_delivery_makes_the_pipelines_action_due_until_it_ran_once():
    assert jobs.deliver(job(VERIFYING), "https://view", "", 0, "none", 1.0).fields["after_delivery_due"] == ""
    due = job(DONE, after_delivery_due="sidecar")
    assert jobs.deliver(job(VERIFYING), "https://view", "", 0, "sidecar", 1.0).fields["after_delivery_due"] == "sidecar"
    ran = jobs.after_delivery_ran(due, "after delivery: wrote a.mov.frameio.json")
    assert ran is not None and ran.fields == {"after_delivery_due": ""} and ran.message.endswith("a.mov.frameio.json")
    assert jobs.after_delivery_ran(due.replace(after_delivery_due=""), "again") is None


def test_messages_say_what_happened():
    assert jobs.upload_started(job(PREPARING, mode=PUSH), "F").message == "upload started (push)"
    assert jobs.upload_started(job(PREPARING, mode=PULL), "F").message == "upload started (pull)"
    assert jobs.retry(job(FAILED)).message == "retried on request"
    assert jobs.retry(job(FAILED), ALICE, "submitted").message == "submitted by alice@example.com"
    with pytest.raises(Conflict, match="only failed or cancelled jobs can be retried"):
        jobs.retry(job(DONE))
    with pytest.raises(Conflict, match="already finished"):
        jobs.cancel(job(DONE), "no")


def test_changes_asked_through_the_api_record_what_and_who_and_nothing_else_changes_them():
    retried = jobs.retry(job(FAILED), ALICE)
    assert (retried.fields["acted"], retried.fields["acted_by"], retried.message) == ("retried", ALICE,
                                                                                     "retried by alice@example.com")
    cancelled = jobs.cancel_requested(job(UPLOADING, acted="retried", acted_by=ALICE), "")
    assert cancelled is not None and cancelled.fields["state"] == CANCELLED
    assert (cancelled.fields["acted"], cancelled.fields["acted_by"]) == ("cancelled", "")  # no longer alice's
    assert cancelled.fields["error"] == cancelled.message == "cancelled on request"
    assert jobs.cancel_requested(job(CANCELLED), ALICE) is None  # nothing asked of it changes
    by_the_watcher = [jobs.cancel(job(UPLOADING), "removed"), jobs.start_attempt(job(QUEUED)),
                      jobs.fail(job(UPLOADING), "boom"),
                      jobs.restart_on_new_content(job(UPLOADING), FileStat("a", 1, 1, 1))]
    assert all(change is not None and not {"acted", "acted_by"} & set(change.fields) for change in by_the_watcher)
    wire = to_proto(job(QUEUED, acted="retried", acted_by=ALICE))
    assert (wire.acted, wire.acted_by) == ("retried", ALICE)


def test_the_wire_form_shows_the_wait_only_while_waiting():
    waiting = to_proto(job(WAITING, next_attempt_at=NOW + 5, connections=0))
    assert waiting.waiting_reason == "retrying in 1s" and waiting.next_attempt_at.seconds == int(NOW + 5)
    moving = to_proto(job(UPLOADING, waiting_reason="stale", bytes_done=40, rate_bps=20.0, connections=3))
    assert moving.waiting_reason == "" and moving.eta_s == 3.0 and moving.connections == 3
    assert re.fullmatch(r"[a-z]+", jobs.state_name(UPLOADING))
