"""The bounded topic: delivery in order to every subscriber, the two overflow policies,
subscriptions that end with their block, and closing."""

import asyncio

import pytest

from postflow.core.pubsub import Overflow, Topic


@pytest.mark.asyncio
async def test_every_subscriber_gets_every_item_in_order():
    topic: Topic[int] = Topic(10, Overflow.DROP_SUBSCRIBER)
    with topic.subscribe() as first, topic.subscribe() as second:
        for n in range(5):
            topic.publish(n)
        assert [await first.get() for _ in range(5)] == [0, 1, 2, 3, 4]
        assert [await second.get() for _ in range(5)] == [0, 1, 2, 3, 4]


@pytest.mark.asyncio
async def test_a_waiting_subscriber_wakes_when_an_item_is_published():
    topic: Topic[str] = Topic(10, Overflow.DROP_OLDEST)
    with topic.subscribe() as subscription:
        waiting = asyncio.create_task(subscription.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        topic.publish("hello")
        assert await asyncio.wait_for(waiting, 1) == "hello"


@pytest.mark.asyncio
async def test_drop_oldest_keeps_the_newest_items_and_the_subscriber():
    topic: Topic[int] = Topic(3, Overflow.DROP_OLDEST)
    with topic.subscribe() as slow, topic.subscribe() as fast:
        for n in range(10):
            topic.publish(n)
            assert await fast.get() == n
        assert [await slow.get() for _ in range(3)] == [7, 8, 9]
        topic.publish(10)
        assert await slow.get() == 10, "still subscribed"
        assert topic.subscribers == 2 and topic.dropped == 0 and not slow.dropped


@pytest.mark.asyncio
async def test_drop_subscriber_ends_the_slow_one_and_frees_its_buffer():
    topic: Topic[int] = Topic(3, Overflow.DROP_SUBSCRIBER)
    with topic.subscribe() as slow, topic.subscribe() as fast:
        for n in range(10):
            topic.publish(n)
            assert await fast.get() == n
        assert slow.dropped and topic.dropped == 1 and topic.subscribers == 1
        assert len(slow) == 0, "what it had buffered is released"
        assert await slow.get() is None
        assert [item async for item in slow] == []
        assert not fast.dropped


@pytest.mark.asyncio
async def test_leaving_the_block_unsubscribes():
    topic: Topic[int] = Topic(3, Overflow.DROP_SUBSCRIBER)
    with topic.subscribe() as subscription:
        assert topic.subscribers == 1
    assert topic.subscribers == 0
    for n in range(10):
        topic.publish(n)
    assert len(subscription) == 0 and not subscription.dropped and topic.dropped == 0


@pytest.mark.asyncio
async def test_close_ends_subscriptions_after_their_buffered_items_and_later_ones_at_once():
    topic: Topic[int] = Topic(10, Overflow.DROP_SUBSCRIBER)
    with topic.subscribe() as before:
        topic.publish(1)
        topic.publish(2)
        assert await before.get() == 1
        topic.close()
        assert [item async for item in before] == [2]
        topic.publish(3)
        assert await before.get() is None
    with topic.subscribe() as after:
        assert await asyncio.wait_for(after.get(), 1) is None
        assert topic.subscribers == 0


@pytest.mark.asyncio
async def test_async_iteration_stops_when_the_topic_closes():
    topic: Topic[int] = Topic(10, Overflow.DROP_OLDEST)
    received: list[int] = []

    async def consume() -> None:
        with topic.subscribe() as subscription:
            async for item in subscription:
                received.append(item)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    topic.publish(1)
    topic.publish(2)
    topic.close()
    await asyncio.wait_for(consumer, 1)
    assert received == [1, 2]


def test_a_topic_needs_room_for_one_item():
    with pytest.raises(ValueError, match="maxsize"):
        Topic(0, Overflow.DROP_OLDEST)
