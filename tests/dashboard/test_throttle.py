"""Progress coalescing: at most one update per key per interval, and never the last one lost."""

import asyncio

import pytest

from postflow.testing.polling import wait_for
from services.dashboard.throttle import Throttle


@pytest.mark.asyncio
async def test_a_burst_becomes_one_immediate_and_one_trailing_update():
    sent = []
    throttle = Throttle(0.2, lambda key, value: sent.append((key, value)))
    for n in range(50):
        throttle.offer("job", n)
    throttle.offer("other", 1)
    assert sent == [("job", 0), ("other", 1)]
    await wait_for(lambda: len(sent) == 3, message="trailing update")
    assert sent[-1] == ("job", 49)


@pytest.mark.asyncio
async def test_rate_stays_within_the_interval_under_a_steady_stream():
    sent = []
    throttle = Throttle(0.25, lambda key, value: sent.append((asyncio.get_running_loop().time(), value)))
    for n in range(100):  # 100 updates over about one second
        throttle.offer("job", n)
        await asyncio.sleep(0.01)
    await wait_for(lambda: sent[-1][1] == 99, message="the last value")
    gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:], strict=False)]
    assert 3 <= len(sent) <= 6, sent
    assert min(gaps) >= 0.24


@pytest.mark.asyncio
async def test_discard_and_forget_drop_a_pending_update():
    sent = []
    throttle = Throttle(0.1, lambda key, value: sent.append(value))
    throttle.offer("job", "first")
    throttle.offer("job", "stale")
    throttle.discard("job")
    throttle.offer("done", "x")
    throttle.forget("done")
    throttle.offer("done", "again")  # forgotten keys start fresh
    await asyncio.sleep(0.2)  # long enough for a cancelled timer to have fired
    assert sent == ["first", "x", "again"]
