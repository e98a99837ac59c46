"""Ledger events as outgoing events: an arrival at done, failed or cancelled is announced once
per attempt, whatever else is recorded of the job afterwards (the after-delivery action's own
event, say), while a job that arrives again after another attempt is announced again."""

from postflow.core.protos import timestamp
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.jobs import CREATED, DONE, FAILED, STATE
from services.watcher.outbound.events import from_job_event


def event(seq: int, kind: int, state: int, attempts: int, message: str = "") -> watcher_pb2.JobEvent:
    job = common_pb2.Job(id="j1", path="SQ01/a.mov", state=state, attempts=attempts, pipeline="default")
    return watcher_pb2.JobEvent(seq=seq, kind=kind, job=job, message=message, at=timestamp(1_700_000_000.0))


def test_a_done_job_changed_again_is_the_same_arrival_and_a_new_attempt_a_new_one():
    delivered = from_job_event(event(7, STATE, DONE, 1, "delivered"), "https://dash")
    after_delivery = from_job_event(event(8, STATE, DONE, 1, "after delivery: wrote a.mov.frameio.json"),
                                    "https://dash")
    assert delivered is not None and after_delivery is not None
    assert delivered.type == after_delivery.type == "delivered"
    assert delivered.source == after_delivery.source  # one idempotency key: the outbox stores it once
    failed = from_job_event(event(9, STATE, FAILED, 2), "https://dash")
    again = from_job_event(event(12, STATE, DONE, 3), "https://dash")
    assert failed is not None and again is not None
    assert len({delivered.source, failed.source, again.source}) == 3
    created = from_job_event(event(1, CREATED, 1, 0), "https://dash")
    assert created is not None and created.type == "queued" and created.source == "e1"
