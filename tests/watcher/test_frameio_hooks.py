"""Frame.io's webhook deliveries in the watcher: a forged signature, a stale timestamp, an
unknown hook, a malformed body and an event PostFlow does not act on are refused or ignored
with one INFO line and nothing stored; a replay is a DUPLICATE; a valid one is stored and
acted on once (also after a restart); each delivery is counted by its outcome; a handler
that fails is tried again, for MAX_ATTEMPTS tries; the dispatcher outlives a failing store."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry, generate_latest

from postflow.testing.metrics import Scrape
from postflow.testing.polling import wait_for
from postflow.v1 import watcher_pb2
from services.watcher.delivery.nudges import FileNudges
from services.watcher.review import hook_dispatch
from services.watcher.review.events import FrameioEvent
from services.watcher.review.hook_dispatch import HookDispatcher
from services.watcher.review.hook_receiver import HookReceiver, signature_of
from services.watcher.review.hooks_store import HooksStore, Registration
from services.watcher.review.metrics import ReviewMetrics

Receipt = watcher_pb2.FrameioWebhookReceipt
HOOK = "h" * 32
SECRET = "frameio-secret-for-tests"
NOW = 1_700_000_000.0


def body(event_type: str = "comment.created", resource: str = "c1", resource_type: str = "comment") -> bytes:
    return json.dumps({"type": event_type, "account": {"id": "a1"}, "workspace": {"id": "w1"},
                       "project": {"id": "p1"}, "user": {"id": "u1"},
                       "resource": {"id": resource, "type": resource_type}}).encode()


def delivery(content: bytes, *, hook: str = HOOK, timestamp: float = NOW, secret: str = SECRET,
             signature: str | None = None) -> watcher_pb2.FrameioWebhookDelivery:
    stamp = str(int(timestamp))
    return watcher_pb2.FrameioWebhookDelivery(
        hook=hook, timestamp=stamp, signature=signature or signature_of(secret, stamp, content), body=content,
        remote_address="203.0.113.7:4711")


def registration(hook: str = HOOK) -> Registration:
    return Registration(hook, "default", "a1", "w1", "Studio", "wh1", f"https://t.example/hooks/frameio/{hook}",
                        ("comment.created",), SECRET, True, NOW)


@pytest_asyncio.fixture
async def store(tmp_path):
    store = HooksStore(tmp_path / "watcher" / "frameio_hooks.sqlite")
    await store.open()
    await store.register(registration())
    yield store
    await store.close()


def receiver_on(store: HooksStore, woken: list[int] | None = None) -> HookReceiver:
    return HookReceiver(store, 300.0, lambda: (woken if woken is not None else []).append(1), clock=lambda: NOW)


def test_the_store_is_private(store):
    assert store.path.stat().st_mode & 0o777 == 0o600


@pytest.mark.asyncio
@pytest.mark.parametrize(("sent", "outcome", "reason"), [
    (delivery(body(), signature="v0=" + "0" * 64), Receipt.BAD_SIGNATURE, "signature does not match"),
    (delivery(body(), secret="another secret"), Receipt.BAD_SIGNATURE, "signature does not match"),
    (delivery(body(), timestamp=NOW - 301), Receipt.STALE, "outside ±300s"),
    (delivery(body(), timestamp=NOW + 301), Receipt.STALE, "outside ±300s"),
    (delivery(body(), hook="u" * 32), Receipt.UNKNOWN_HOOK, "no webhook of PostFlow"),
    (delivery(b"<html>not json</html>"), Receipt.MALFORMED, "not JSON"),
    (delivery(b'{"type": "file.ready"}'), Receipt.MALFORMED, "no resource id"),
    (delivery(body("file.created", "f1", "file")), Receipt.IGNORED, "not an event PostFlow acts on"),
])
async def test_refused_with_one_info_line_and_nothing_stored(store, caplog, sent, outcome, reason):
    woken: list[int] = []
    with caplog.at_level(logging.INFO, logger="services.watcher.review"):
        receipt = await receiver_on(store, woken).receive(sent)
    assert receipt.outcome == outcome and reason in receipt.reason
    (line,) = [record for record in caplog.records if record.name.startswith("services.watcher.review")]
    assert line.levelno == logging.INFO and "203.0.113.7:4711" in line.getMessage() and reason in line.getMessage()
    assert SECRET not in caplog.text
    assert await store.pending() == 0 and woken == []


@pytest.mark.asyncio
async def test_a_valid_delivery_is_stored_once_and_a_replay_is_a_duplicate(store, caplog):
    woken: list[int] = []
    receiver = receiver_on(store, woken)
    sent = delivery(body())
    assert (await receiver.receive(sent)).outcome == Receipt.ACCEPTED
    assert (await receiver.receive(sent)).outcome == Receipt.DUPLICATE
    assert await store.pending() == 1 and woken == [1]
    later = delivery(body(), timestamp=NOW + 1)  # the same event sent again later: another delivery
    assert (await receiver.receive(later)).outcome == Receipt.ACCEPTED


@pytest.mark.asyncio
async def test_each_delivery_is_counted_by_its_outcome(store):
    registry = CollectorRegistry()
    receiver = HookReceiver(store, 300.0, lambda: None, clock=lambda: NOW, metrics=ReviewMetrics(registry))
    before = Scrape.parse(generate_latest(registry).decode())
    sent = delivery(body())
    for each in (sent, sent, delivery(body(), secret="forged"), delivery(body(), secret="forged"),
                 delivery(body(), timestamp=NOW - 301), delivery(b"[]", hook="u" * 32)):
        await receiver.receive(each)
    counted = Scrape.parse(generate_latest(registry).decode())
    name = "postflow_frameio_webhook_deliveries_total"
    assert {sample.labels["outcome"]: sample.value for sample in before.samples if sample.name == name} == {
        "accepted": 0, "duplicate": 0, "ignored": 0, "bad_signature": 0, "stale": 0, "unknown_hook": 0,
        "malformed": 0}, "every outcome is there from the start"
    assert {sample.labels["outcome"]: sample.value for sample in counted.samples if sample.name == name} == {
        "accepted": 1, "duplicate": 1, "ignored": 0, "bad_signature": 2, "stale": 1, "unknown_hook": 1,
        "malformed": 0}


class Recorder:
    """on_review_event: records each event; fails the first `failures` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[FrameioEvent] = []
        self.failures = failures
        self.calls = 0

    async def __call__(self, event: FrameioEvent) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("the review loop is not ready")
        self.events.append(event)


async def dispatching(store: HooksStore, handler: Recorder, nudges: FileNudges | None = None):
    dispatcher = HookDispatcher(store, FileNudges() if nudges is None else nudges, handler)
    return dispatcher, asyncio.create_task(dispatcher.run())


async def nothing_pending(store: HooksStore) -> bool:
    return await store.pending() == 0


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_accepted_events_are_acted_on_once_in_order(store):
    handler, nudges = Recorder(), FileNudges()
    dispatcher, task = await dispatching(store, handler, nudges)
    receiver = HookReceiver(store, 300.0, dispatcher.wake, clock=lambda: NOW)
    with nudges.watch("f1") as uploaded:
        for sent in (body("comment.created", "c1"), body("file.ready", "f1", "file"), body("comment.completed", "c1")):
            assert (await receiver.receive(delivery(sent))).outcome == Receipt.ACCEPTED
        await wait_for(lambda: len(handler.events) == 2, message="both comment events")
        assert uploaded.is_set()  # file.ready nudged the file's verification wait
    try:
        assert [(e.type, e.resource_id, e.workspace_id) for e in handler.events] == [
            ("comment.created", "c1", "w1"), ("comment.completed", "c1", "w1")]
        await wait_for(lambda: nothing_pending(store), message="all done")
        assert handler.calls == 2
    finally:
        await stop(task)


@pytest.mark.asyncio
async def test_dispatch_resumes_after_a_restart(tmp_path):
    path = tmp_path / "frameio_hooks.sqlite"
    before = HooksStore(path)
    await before.open()
    await before.register(registration())
    assert (await receiver_on(before).receive(delivery(body()))).outcome == Receipt.ACCEPTED
    await before.close()  # the watcher stopped before acting on it

    after = HooksStore(path)
    await after.open()
    handler = Recorder()
    _, task = await dispatching(after, handler)
    try:
        await wait_for(lambda: handler.events, message="the stored event acted on")
        assert [event.type for event in handler.events] == ["comment.created"]
        await wait_for(lambda: nothing_pending(after), message="marked done")
    finally:
        await stop(task)
        await after.close()


@pytest.mark.asyncio
async def test_a_failing_handler_is_retried_not_lost(store, monkeypatch, caplog):
    monkeypatch.setattr(hook_dispatch, "RETRY_BASE_S", 0.01)
    handler = Recorder(failures=2)
    dispatcher, task = await dispatching(store, handler)
    try:
        assert (await HookReceiver(store, 300.0, dispatcher.wake, clock=lambda: NOW).receive(
            delivery(body()))).outcome == Receipt.ACCEPTED
        await wait_for(lambda: handler.events, message="acted on at the third try")
        assert handler.calls == 3 and "the review loop is not ready" in caplog.text
    finally:
        await stop(task)


@pytest.mark.asyncio
async def test_done_deliveries_are_pruned_after_a_day(store):
    assert await store.accept("k1", json.dumps({}), NOW - 90_000)
    assert await store.accept("k2", json.dumps({}), NOW - 60)
    for row in await store.due(NOW):
        await store.done(row.id)
    assert await store.prune(NOW - hook_dispatch.KEEP_DONE_S) == 1
    assert not await store.accept("k2", json.dumps({}), NOW)  # still known: a replay stays a duplicate


@pytest.mark.asyncio
async def test_the_dispatcher_goes_on_after_a_store_failure_and_past_an_unreadable_row(store, monkeypatch):
    monkeypatch.setattr(hook_dispatch, "RETRY_BASE_S", 0.01)
    due = store.due
    failures = [sqlite3.OperationalError("disk I/O error")]

    async def due_failing_once(now: float) -> list:
        if failures:
            raise failures.pop()
        return await due(now)
    monkeypatch.setattr(store, "due", due_failing_once)
    assert await store.accept("old", json.dumps({"type": "comment.created", "field_of_an_old_version": 1}), NOW)
    handler = Recorder()
    dispatcher, task = await dispatching(store, handler)
    try:
        assert (await receiver_on(store).receive(delivery(body()))).outcome == Receipt.ACCEPTED
        dispatcher.wake()
        await wait_for(lambda: handler.events, message="acted on after the store failed once")
        await wait_for(lambda: nothing_pending(store), message="the unreadable row set aside")
        assert [event.type for event in handler.events] == ["comment.created"] and not task.done()
    finally:
        await stop(task)


@pytest.mark.asyncio
async def test_a_delivery_that_keeps_failing_is_given_up_and_pruned_in_time(store, monkeypatch, caplog):
    monkeypatch.setattr(hook_dispatch, "RETRY_BASE_S", 0.001)
    monkeypatch.setattr(hook_dispatch, "RETRY_MAX_S", 0.001)
    handler = Recorder(failures=1_000_000)
    dispatcher, task = await dispatching(store, handler)
    try:
        assert (await receiver_on(store, None).receive(delivery(body()))).outcome == Receipt.ACCEPTED
        dispatcher.wake()
        await wait_for(lambda: nothing_pending(store), timeout=5, message="given up")
        assert handler.calls == hook_dispatch.MAX_ATTEMPTS and "given up" in caplog.text
    finally:
        await stop(task)
