"""Webhooks and notifications in the running watcher: an unreachable receiver never delays a
delivery and never loses an event (the delivery log shows it waiting; ListDeliveries and
ReplayDelivery); kill -9 of the watcher process mid-delivery loses no event, and an event
sent twice carries the same idempotency key; no secret reaches the log."""

import asyncio
import time
from collections import defaultdict

import grpc
import pytest

from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.receivers import HttpReceiver, signature_valid
from postflow.testing.watcher import WatcherProcess, environment, start_watcher, wait_jobs
from postflow.v1 import watcher_pb2

SECRET = "whsec-for-tests-0123456789"
FAST = {"retry_base_s": 0.2, "retry_max_s": 1.0}


@pytest.mark.asyncio
async def test_unreachable_receivers_never_delay_a_delivery_nor_lose_an_event(tmp_path, caplog):
    dead = free_port()
    hook_url = f"http://127.0.0.1:{dead}/hooks/secret-path-token-0123"
    notify_url = f"json://127.0.0.1:{dead}/notify/another-secret-token-4567"
    settings = {"webhooks": [{"url": hook_url, "secret": SECRET, "events": ["delivered"]}],
                "notifications": [{"url": notify_url, "events": ["delivered"], "batch_window_s": 0}],
                "outbound": FAST}
    async with environment(tmp_path, extra=settings) as env:
        stub = await start_watcher(env)
        write_media(env.root / "SQ01/a.mov", 300_000, seed=1)
        started = time.monotonic()
        (job,) = await wait_jobs(stub, 1, timeout=20)
        assert time.monotonic() - started < 10

        async def waiting() -> list[watcher_pb2.Delivery]:
            answer = await stub.ListDeliveries(watcher_pb2.ListDeliveriesRequest())
            deliveries = list(answer.deliveries)
            return deliveries if len(deliveries) == 2 and all(d.attempts >= 2 for d in deliveries) else []

        notification, hook = sorted(await wait_for(waiting, message="both tried again"), key=lambda d: d.kind)
        assert (notification.kind, hook.kind) == ("notification", "webhook")
        assert hook.status == "pending" and hook.event == "delivered" and hook.job_id == job.id
        assert hook.path == "SQ01/a.mov" and hook.target == "webhooks[0] 127.0.0.1" and hook.last_error
        assert hook.HasField("next_attempt_at") and not hook.HasField("sent_at")
        assert notification.target == "notifications[0] JSON" and "Connection error" in notification.last_error

        async with HttpReceiver(dead) as receiver:
            await wait_for(lambda: len(receiver.answered()) >= 2, message="both sent once the receiver is up")
            replayed = await stub.ReplayDelivery(watcher_pb2.ReplayDeliveryRequest(id=hook.id))
            assert replayed.idempotency_key == hook.idempotency_key
            await wait_for(lambda: len(receiver.answered()) >= 3, message="the replay")
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.ReplayDelivery(watcher_pb2.ReplayDeliveryRequest(id=999))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND and "no delivery 999" in missing.value.details()

    hooks = [post for post in receiver.received if post.path.startswith("/hooks/")]
    assert len(hooks) == 2 and {post.key for post in hooks} == {hook.idempotency_key}
    assert all(signature_valid(SECRET, post.headers, post.body, time.time()) for post in hooks)
    logged = "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith(
        ("apprise", "urllib3")))  # those two never reach the service's log (they do not propagate)
    assert "webhooks[0] 127.0.0.1" in logged
    for secret in ("secret-path-token", "another-secret-token", SECRET):
        assert secret not in logged


@pytest.mark.slow
@pytest.mark.asyncio
async def test_kill_9_mid_delivery_loses_no_event(tmp_path):
    async with HttpReceiver() as receiver:
        receiver.hold = asyncio.Event()  # the first POST hangs: the watcher dies with it in flight
        settings = {"webhooks": [{"url": f"{receiver.url}/hooks/secret-path-token-0123", "secret": SECRET,
                                  "events": ["queued", "delivered"], "timeout_s": 60}], "outbound": FAST}
        async with environment(tmp_path, extra=settings) as env:
            for index in range(3):
                write_media(env.root / f"SQ01/shot_{index}.mov", 200_000, seed=index)
            first = WatcherProcess(env, tmp_path / "watcher-1.log")
            env.watchers.append(first)
            await first.start()
            jobs = await wait_jobs(first.stub, 3, timeout=30)
            await wait_for(lambda: receiver.received, message="a POST in flight")
            await first.kill9()  # every event is in the outbox alone now; one was on the wire

            receiver.hold.set()
            second = WatcherProcess(env, tmp_path / "watcher-2.log")
            env.watchers.append(second)
            await second.start()
            expected = {(kind, job.id) for job in jobs for kind in ("queued", "delivered")}

            def arrived() -> set:
                return {(post.json["type"], post.json["job"]["id"]) for post in receiver.answered()}

            await wait_for(lambda: arrived() >= expected, timeout=20, message="every event")
            await second.stop()

    keys: dict[tuple, set[str]] = defaultdict(set)
    for post in receiver.received:
        assert signature_valid(SECRET, post.headers, post.body, time.time())
        keys[(post.json["type"], post.json["job"]["id"])].add(post.key)
    assert set(keys) == expected and all(len(event_keys) == 1 for event_keys in keys.values())
    assert len(receiver.received) > len(expected)  # the one in flight came again, under its key
    for log in (tmp_path / "watcher-1.log", tmp_path / "watcher-2.log"):
        text = log.read_text()
        assert "secret-path-token" not in text and SECRET not in text
