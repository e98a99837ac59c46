"""The bounded topic: delivery in order to every subscriber, the overflow policies, first
items, subscriptions that end with their block, and closing."""

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


@pytest.mark.asyncio
async def test_latest_per_key_keeps_each_keys_newest_item_last_in_line():
    topic: Topic[tuple[str, int]] = Topic(2, Overflow.LATEST_PER_KEY, key=lambda item: item[0])
    with topic.subscribe([("a", 0), ("b", 0)]) as slow:
        for n in range(1, 4):
            topic.publish(("a", n))
        topic.publish(("b", 1))
        topic.publish(("a", 4))
        assert [await slow.get() for _ in range(2)] == [("b", 1), ("a", 4)]
        assert len(slow) == 0 and not slow.dropped


@pytest.mark.asyncio
async def test_latest_per_key_drops_a_subscriber_holding_more_keys_than_maxsize():
    topic: Topic[str] = Topic(2, Overflow.LATEST_PER_KEY, key=str)
    with topic.subscribe(["a", "b"]) as slow, topic.subscribe(["a", "b", "c"]) as seeded_over:
        assert seeded_over.dropped and await seeded_over.get() is None
        topic.publish("c")
        assert slow.dropped and topic.dropped == 2 and topic.subscribers == 0


@pytest.mark.asyncio
async def test_first_items_come_before_what_is_published_even_once_closed():
    topic: Topic[int] = Topic(10, Overflow.DROP_OLDEST)
    with topic.subscribe([1, 2]) as subscription:
        topic.publish(3)
        topic.close()
        assert [item async for item in subscription] == [1, 2, 3]
    with topic.subscribe([4]) as after_close:
        assert [item async for item in after_close] == [4]


def test_a_key_function_goes_with_latest_per_key_only():
    with pytest.raises(ValueError, match="key function"):
        Topic(3, Overflow.LATEST_PER_KEY)
    with pytest.raises(ValueError, match="key function"):
        Topic(3, Overflow.DROP_OLDEST, key=str)


def test_a_topic_needs_room_for_one_item():
    with pytest.raises(ValueError, match="maxsize"):
        Topic(0, Overflow.DROP_OLDEST)
