"""One lock per key, kept only while held or waited for."""

import asyncio

import pytest

from postflow.core.keyed_locks import KeyedLocks


@pytest.mark.asyncio
async def test_one_holder_per_key_others_at_once_and_nothing_kept_after():
    locks = KeyedLocks()
    order: list[str] = []
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def hold(key: str, name: str, wait: bool) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            if wait:
                first_in.set()
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(hold("F1", "first", True))
    await first_in.wait()
    second = asyncio.create_task(hold("F1", "second", False))
    await hold("F2", "other file", False)
    await asyncio.sleep(0)
    assert order == ["first in", "other file in", "other file out"], "the same key waits, another does not"
    assert len(locks) == 1
    release.set()
    await asyncio.gather(first, second)
    assert order[3:] == ["first out", "second in", "second out"]
    assert len(locks) == 0, "no lock kept for a key nobody holds"


@pytest.mark.asyncio
async def test_a_holder_cancelled_while_waiting_leaves_nothing_behind():
    locks = KeyedLocks()
    async with locks.hold("F1"):
        waiter = asyncio.create_task(locks.hold("F1").__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    assert len(locks) == 0
