"""Frame.io's webhook through the real streamer's public server into the real watcher: a signed
delivery is answered 200 and reaches the review loop's hook point once, its replay too is 200
but not acted on again, a forged one is 401 and an unknown key 404, each counted in the
watcher's /metrics by its outcome; the secret never reaches the log."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from postflow.testing.metrics import scrape
from postflow.testing.polling import wait_for
from postflow.testing.streamer import start_streamer, stop_streamer, streamer_config
from postflow.testing.watcher import InProcess, environment, start_watcher
from services.watcher.review.events import FrameioEvent
from services.watcher.review.hook_receiver import signature_of
from services.watcher.review.hooks_store import Registration

HOOK = "Hk_" + "x" * 29
SECRET = "frameio-webhook-secret-0123456789"
BODY = json.dumps({"type": "comment.created", "account": {"id": "a1"}, "workspace": {"id": "w1"},
                   "project": {"id": "p1"}, "user": {"id": "u1"},
                   "resource": {"id": "c1", "type": "comment"}}).encode()


@pytest.mark.asyncio
async def test_a_delivery_through_the_streamer_reaches_the_review_loop_once(tmp_path, caplog):
    async with environment(tmp_path, metrics={"watcher": "127.0.0.1:0"}) as env:
        await start_watcher(env)
        watcher = env.watchers[-1]
        assert isinstance(watcher, InProcess)
        service = watcher.service
        webhooks = service.review.webhooks
        await webhooks.store.register(Registration(
            HOOK, "default", "a1", "w1", "Studio", "wh1", f"https://t.example/hooks/frameio/{HOOK}",
            ("comment.created",), SECRET, False, time.time()))
        service.runtime.add_secret(SECRET)
        seen: list[FrameioEvent] = []

        async def on_review_event(event: FrameioEvent) -> None:
            seen.append(event)

        webhooks.dispatcher.on_review_event = on_review_event
        (tmp_path / "streamer").mkdir()
        streamer = await start_streamer(streamer_config(tmp_path / "streamer",
                                                        services={"watcher": f"127.0.0.1:{service.grpc_port}"}))
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                stamp = str(int(time.time()))

                async def post(hook: str = HOOK, secret: str = SECRET) -> int:
                    response = await client.post(f"{streamer.base}/hooks/frameio/{hook}", content=BODY, headers={
                        "X-Frameio-Request-Timestamp": stamp, "X-Frameio-Signature": signature_of(secret, stamp, BODY)})
                    return response.status_code

                assert await post() == 200
                await wait_for(lambda: seen, message="the event at the review loop's hook point")
                assert await post() == 200  # Frame.io's retry, or a replay: a duplicate
                assert await post(secret="forged") == 401
                assert await post(hook="n" * 32) == 404
            (event,) = seen
            assert (event.type, event.resource_id, event.account_id) == ("comment.created", "c1", "a1")
            assert await webhooks.store.pending() == 0
            metrics = await scrape(f"127.0.0.1:{service.metrics.port}")
            for outcome, count in (("accepted", 1), ("duplicate", 1), ("bad_signature", 1), ("unknown_hook", 1),
                                   ("stale", 0)):
                assert metrics.value("postflow_frameio_webhook_deliveries_total", outcome=outcome) == count, outcome
            assert metrics.value("postflow_review_followed_files") == 0
            assert metrics.value("postflow_review_last_sweep_timestamp_seconds") > 0
        finally:
            await stop_streamer(streamer)
    assert SECRET not in caplog.text
