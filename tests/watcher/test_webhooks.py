"""Webhooks: each job event POSTed as signed JSON with its idempotency key (checked as the
README's snippet checks it), retried with backoff while the receiver fails or answers too
slowly, kept when it refuses, replayed on request, and resumed from the outbox after a restart
without losing or repeating an event."""

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from postflow.testing.outbound import outbound_under_test
from postflow.testing.polling import wait_for
from postflow.testing.receivers import HttpReceiver, signature_valid

SECRET = "whsec-for-tests-0123456789"
FAST = {"retry_base_s": 0.2, "retry_max_s": 0.8}
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify() -> Callable[..., bool]:
    """The receiver's check the README gives under "### Webhooks", as written there."""
    code = README.read_text(encoding="utf-8").split("### Webhooks\n", 1)[1].split("```python\n", 1)[1]
    namespace: dict = {}
    exec(code.split("```", 1)[0], namespace)
    return namespace["verify"]


def webhook(receiver: HttpReceiver, events=("queued", "delivered", "failed"), **options) -> dict:
    return {"url": f"{receiver.url}/hooks/postflow", "secret": SECRET, "events": list(events), **options}


@pytest.mark.asyncio
async def test_each_job_event_is_posted_signed_with_its_idempotency_key(tmp_path):
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"webhooks": [webhook(receiver)], "outbound": FAST}) as outbound:
        job = await outbound.deliver(await outbound.queue("SQ01/SH010/a.mov"))
        failed = await outbound.fail(await outbound.queue("SQ01/SH020/b.mov"), "Frame.io refused the file")
        await outbound.wait_sent(4)

    posts, verify = receiver.received, readme_verify()
    assert [post.json["type"] for post in posts] == ["queued", "delivered", "queued", "failed"]
    for post in posts:
        assert verify(SECRET, post.headers, post.body) and not verify("another-secret", post.headers, post.body)
        assert post.path == "/hooks/postflow" and post.headers["content-type"] == "application/json"
        assert signature_valid(SECRET, post.headers, post.body, time.time())
        assert not signature_valid("another-secret", post.headers, post.body, time.time())
        assert not signature_valid(SECRET, post.headers, post.body + b" ", time.time())
        assert post.headers["x-postflow-signature"].startswith("v0=") and post.key.startswith("pf-")
    assert len({post.key for post in posts}) == 4
    delivered, failure = posts[1].json, posts[3].json
    assert delivered["job"]["id"] == job.id and delivered["job"]["path"] == "SQ01/SH010/a.mov"
    assert delivered["job"]["state"] == "done" and delivered["job"]["view_url"] == job.view_url
    assert delivered["occurred_at"].endswith("Z") and delivered["job"]["pipeline"] == "default"
    assert failure["job"]["id"] == failed.id and failure["job"]["state"] == "failed"
    assert failure["job"]["error"] == "Frame.io refused the file"
    assert failure["job"]["dashboard_url"] == "https://localhost:8000/?q=SQ01%2FSH020%2Fb.mov"


@pytest.mark.asyncio
async def test_a_failing_receiver_is_retried_with_backoff_until_it_takes_the_event(tmp_path):
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"webhooks": [webhook(receiver, ["delivered"])], "outbound": FAST}) as outbound:
        receiver.failures = 3
        await outbound.deliver(await outbound.queue("a.mov"))
        await outbound.deliver(await outbound.queue("b.mov"))
        (first, second) = await outbound.wait_sent(2)

    assert [post.answered for post in receiver.received] == [503, 503, 503, 200, 200]
    assert len({post.key for post in receiver.received[:4]}) == 1  # the same event, tried again
    assert [post.json["job"]["path"] for post in receiver.received[3:]] == ["a.mov", "b.mov"]  # in order
    gaps = [later.at - earlier.at for earlier, later in zip(receiver.received[:3], receiver.received[1:4], strict=True)]
    assert gaps[0] >= 0.1 and gaps[2] >= 0.2  # 0.2 s doubling, up to 0.8 s, each drawn from its upper half
    assert first.attempts == 4 and first.last_error == "" and second.attempts == 1


@pytest.mark.asyncio
async def test_a_slow_receiver_is_cut_off_by_the_timeout_and_tried_again(tmp_path):
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"webhooks": [webhook(receiver, ["delivered"], timeout_s=0.3)], "outbound": FAST}) as outbound:
        receiver.hold = asyncio.Event()
        await outbound.deliver(await outbound.queue("a.mov"))
        await wait_for(lambda: len(receiver.received) >= 2, message="a second try after the timeout")
        (entry,) = await outbound.entries()
        assert entry.status == "pending" and entry.last_error == "no answer within 0.3 s"
        receiver.hold.set()
        (entry,) = await outbound.wait_sent(1)

    keys = {post.key for post in receiver.received}
    assert keys == {entry.key} and entry.attempts == len(receiver.received) >= 2
    assert not receiver.received[0].answered or receiver.received[0].answered == 200
    assert 0.3 <= receiver.received[1].at - receiver.received[0].at < 1.5  # cut off at 0.3 s, then a backoff


@pytest.mark.asyncio
async def test_a_refused_event_is_kept_rejected_and_replayed_on_request(tmp_path):
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"webhooks": [webhook(receiver, ["delivered"])], "outbound": FAST}) as outbound:
        receiver.failures, receiver.fail_with = 1, 422
        await outbound.deliver(await outbound.queue("a.mov"))
        await outbound.deliver(await outbound.queue("b.mov"))
        await outbound.wait_sent(1)
        rejected, sent = await outbound.entries()
        assert rejected.status == "rejected" and "HTTP 422" in rejected.last_error and sent.status == "sent"

        replayed = await outbound.outbound.replay(rejected.id)
        assert replayed.status == "pending" and replayed.key == rejected.key
        await outbound.wait_sent(2)

    assert [post.json["job"]["path"] for post in receiver.received] == ["a.mov", "b.mov", "a.mov"]
    first, _, again = receiver.received
    assert again.key == first.key and again.body == first.body


@pytest.mark.asyncio
async def test_a_restart_sends_what_was_left_and_nothing_twice(tmp_path):
    async with HttpReceiver() as receiver:
        settings = {"webhooks": [webhook(receiver, ["delivered"])], "outbound": FAST}
        receiver.failures = 1_000
        async with outbound_under_test(tmp_path, settings) as outbound:
            await outbound.deliver(await outbound.queue("a.mov"))
            await wait_for(lambda: receiver.received, message="a first try")
        async with outbound_under_test(tmp_path, settings, running=False) as down:  # the ledger only
            await down.deliver(await down.queue("b.mov"))
        receiver.failures = 0
        async with outbound_under_test(tmp_path, settings) as outbound:
            sent = await outbound.wait_sent(2)

    assert [json.loads(entry.body)["job"]["path"] for entry in sent] == ["a.mov", "b.mov"]
    answered = receiver.answered()
    assert [post.json["job"]["path"] for post in answered if post.answered == 200] == ["a.mov", "b.mov"]
    assert {post.key for post in answered if post.json["job"]["path"] == "a.mov"} == {sent[0].key}
