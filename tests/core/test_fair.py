"""Fair turns: shares take turns (one with many waiters cannot hold up another's first), a
waiter that gives up leaves the line, and one whose turn came as it gave up passes it on; the
Frame.io pacing and the watcher's slots use them."""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter

import pytest

from postflow.core.fair import FAIR_SHARE, FairTurns
from postflow.frameio_limits import RateLimiter
from postflow.testing.watcher import make_job
from services.watcher.orchestrator import fair_order
from services.watcher.scanner import FileStat


async def take_turn(turns: FairTurns, share: str, order: list[str], label: str, hold: asyncio.Event) -> None:
    FAIR_SHARE.set(share)
    async with turns.turn():
        order.append(label)
        await hold.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_shares_take_turns_and_each_shares_waiters_keep_their_order():
    turns, order, hold = FairTurns(), [], asyncio.Event()
    hold.set()
    first_hold = asyncio.Event()
    holder = asyncio.create_task(take_turn(turns, "storm", order, "storm-0", first_hold))
    await settle()
    waiters = [asyncio.create_task(take_turn(turns, "storm", order, f"storm-{i}", hold)) for i in (1, 2, 3)]
    await settle()
    waiters.append(asyncio.create_task(take_turn(turns, "calm", order, "calm-1", hold)))
    await settle()
    assert turns.busy and order == ["storm-0"]
    first_hold.set()
    await asyncio.gather(holder, *waiters)
    assert order == ["storm-0", "calm-1", "storm-1", "storm-2", "storm-3"]
    assert not turns.busy


@pytest.mark.asyncio
async def test_a_waiter_that_gives_up_leaves_the_line_and_the_turn_goes_on():
    turns, order, hold = FairTurns(), [], asyncio.Event()
    holder = asyncio.create_task(take_turn(turns, "a", order, "a-0", hold))
    await settle()
    quitter = asyncio.create_task(take_turn(turns, "b", order, "b-1", asyncio.Event()))
    patient = asyncio.create_task(take_turn(turns, "c", order, "c-1", asyncio.Event()))
    await settle()
    quitter.cancel()
    hold.set()
    await holder
    await settle()
    assert order == ["a-0", "c-1"] and turns.busy
    patient.cancel()  # cancelled while holding: the turn is freed
    await asyncio.gather(quitter, patient, return_exceptions=True)
    assert not turns.busy


@pytest.mark.asyncio
async def test_frameio_pacing_serves_a_quiet_pipeline_between_a_busy_ones_calls():
    limiter = RateLimiter(1, 0.05, margin=0.0)  # one call every 50 ms
    sent: list[str] = []

    async def call(share: str, label: str) -> None:
        FAIR_SHARE.set(share)
        await limiter.acquire()
        sent.append(label)

    tasks = [asyncio.create_task(call("storm", f"storm-{i}"), context=contextvars.copy_context()) for i in range(4)]
    await asyncio.sleep(0.01)  # storm-0 went, storm-1 waits for the pace, the others for their turn
    tasks.append(asyncio.create_task(call("calm", "calm-0"), context=contextvars.copy_context()))
    await asyncio.gather(*tasks)
    assert sent == ["storm-0", "storm-1", "calm-0", "storm-2", "storm-3"]


def test_slots_go_first_to_the_pipeline_with_fewer_running_whatever_the_ages():
    def job(pipeline: str, name: str, created_at: float):
        return make_job(FileStat(name, 1, 1, 1)).replace(pipeline=pipeline, created_at=created_at)

    storm = [job("storm", f"s{i}", 100.0 + i) for i in range(4)]
    calm = job("calm", "c", 500.0)
    order = fair_order([*storm, calm], running=Counter({"storm": 3}))
    assert [j.path for j in order][:2] == ["c", "s0"]
