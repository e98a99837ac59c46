"""What WatchJobs carries: job events, each with the totals over every job as of that event;
the progress of transfers in flight, sent live; and where the stored history stands.

The totals are counters the ledger keeps in step with the rows (changed in the same
transaction as the rows they count), so an event never shows totals other than its rows'.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.jobs import DONE, Job, state_name

STATES = [state for state in common_pb2.JobState.values() if state != common_pb2.JOB_STATE_UNSPECIFIED]


@dataclass
class Totals:
    by_state: Counter[int] = field(default_factory=Counter)
    files_delivered: int = 0
    bytes_delivered: int = 0

    def count(self, before: Job | None, after: Job) -> None:
        """A job written (`before` None: inserted)."""
        if before is not None:
            self._add(before, -1)
        self._add(after, 1)

    def _add(self, job: Job, sign: int) -> None:
        self.by_state[job.state] += sign
        if job.state == DONE:
            self.files_delivered += sign
            self.bytes_delivered += sign * job.size

    def copy(self) -> Totals:
        return dataclasses.replace(self, by_state=Counter(self.by_state))

    def proto(self) -> watcher_pb2.JobTotals:
        return watcher_pb2.JobTotals(
            jobs_by_state={state_name(state): self.by_state[state] for state in STATES},
            files_delivered=self.files_delivered, bytes_delivered=self.bytes_delivered)


@dataclass(frozen=True)
class Head:
    """Where the event history stands: its oldest retained and newest sequence numbers
    (0 when there are none) and the totals as of the newest."""

    first_seq: int
    last_seq: int
    totals: watcher_pb2.JobTotals


@dataclass(frozen=True)
class Progress:
    bytes_done: int
    rate_bps: float
    connections: int


def event_proto(seq: int, kind: watcher_pb2.JobEventKind, job: common_pb2.Job, message: str, at: float,
                totals: watcher_pb2.JobTotals) -> watcher_pb2.JobEvent:
    event = watcher_pb2.JobEvent(seq=seq, kind=kind, job=job, message=message, totals=totals)
    event.at.FromNanoseconds(int(at * 1e9))
    return event
