"""The fan-out on its own: ids, replay after Last-Event-ID, snapshots, slow clients."""

import json

import pytest

from services.dashboard.fanout import Broadcaster


def decode(event) -> dict:
    lines = event.frame.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines if line)
    return {"id": fields["id"], "event": fields["event"], "data": json.loads(fields["data"])}


def snapshot() -> dict:
    return {"jobs": []}


def test_events_are_numbered_and_resume_replays_only_what_was_missed():
    fanout = Broadcaster()
    published = [fanout.publish("job", {"n": n}) for n in range(5)]
    ids = [decode(event)["id"] for event in published]
    assert ids == [f"{fanout.epoch}-{n}" for n in range(1, 6)]
    with fanout.subscribe(ids[1], snapshot) as (_, first):
        assert [decode(event)["data"]["n"] for event in first] == [2, 3, 4]
    with fanout.subscribe(ids[-1], snapshot) as (_, first):
        assert first == [], "an up-to-date client gets nothing again"


def test_unknown_or_forgotten_ids_get_a_snapshot():
    fanout = Broadcaster(history=3)
    for n in range(10):
        fanout.publish("job", {"n": n})
    for last_id in ("", "garbage", "ffffffff-3", f"{fanout.epoch}-2", f"{fanout.epoch}-99"):
        with fanout.subscribe(last_id, snapshot) as (_, first):
            assert [decode(event)["event"] for event in first] == ["snapshot"], last_id
            assert decode(first[0])["id"] == f"{fanout.epoch}-10"
    with fanout.subscribe(f"{fanout.epoch}-7", snapshot) as (_, first):
        assert [decode(event)["data"]["n"] for event in first] == [7, 8, 9]


@pytest.mark.asyncio
async def test_live_events_reach_subscribers_in_order():
    fanout = Broadcaster()
    with fanout.subscribe("", snapshot) as (subscriber, _):
        fanout.publish("job", {"n": 1})
        fanout.publish("log", {"n": 2})
        assert [decode(await subscriber.get())["event"] for _ in range(2)] == ["job", "log"]
    assert fanout.clients == 0, "leaving the block unsubscribes"


@pytest.mark.asyncio
async def test_a_slow_subscriber_is_dropped_and_its_queue_freed():
    fanout = Broadcaster(queue_size=8)
    with fanout.subscribe("", snapshot) as (slow, _), fanout.subscribe("", snapshot) as (fast, _):
        for n in range(20):
            fanout.publish("job", {"n": n})
            assert decode(await fast.get())["data"]["n"] == n
        assert slow.dropped and fanout.dropped == 1 and fanout.clients == 1
        assert len(slow) == 0 and await slow.get() is None, "nothing is kept for it; its stream ends"


@pytest.mark.asyncio
async def test_reset_sends_a_snapshot_and_invalidates_older_ids():
    fanout = Broadcaster()
    with fanout.subscribe("", snapshot) as (subscriber, _):
        old = decode(fanout.publish("job", {"n": 1}))["id"]
        fanout.reset({"jobs": [{"id": "a"}]})
        await subscriber.get()
        reset = decode(await subscriber.get())
    assert reset["event"] == "snapshot" and reset["data"]["jobs"] == [{"id": "a"}]
    with fanout.subscribe(old, snapshot) as (_, first):
        assert [decode(event)["event"] for event in first] == ["snapshot"]
    with fanout.subscribe(reset["id"], snapshot) as (_, first):
        assert first == []


@pytest.mark.asyncio
async def test_close_ends_current_and_later_subscribers():
    fanout = Broadcaster()
    with fanout.subscribe("", snapshot) as (before, _):
        fanout.close()
        with fanout.subscribe("", snapshot) as (after, _):
            assert await before.get() is None and await after.get() is None
            assert fanout.clients == 0
