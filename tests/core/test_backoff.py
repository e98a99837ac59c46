"""Backoff: the formula (doubling, a ceiling, jitter within its band) and the counter that
starts afresh after a success or a healthy run."""

from __future__ import annotations

import pytest

from postflow.core.backoff import Backoff, backoff_delay
from postflow.testing.clock import ManualClock


def test_each_attempt_doubles_the_wait_up_to_the_ceiling():
    assert [backoff_delay(n, 0.5, 5.0, jitter=0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_delay(0, 2.0, 300, jitter=0) == 2.0  # attempt 0 counts as the first


def test_a_factor_other_than_two_grows_the_wait_by_that_factor():
    assert [backoff_delay(n, 2.0, 10.0, jitter=0, factor=1.5) for n in range(1, 7)] == [2.0, 3.0, 4.5, 6.75, 10.0, 10.0]
    backoff = Backoff(1.0, 60.0, jitter=0, factor=3.0)
    assert [backoff.failed() for _ in range(3)] == [1.0, 3.0, 9.0]
    with pytest.raises(ValueError, match="factor"):
        Backoff(1.0, 60.0, factor=0.5)


def test_jitter_draws_from_the_top_band_of_the_wait():
    assert backoff_delay(3, 2.0, 300, rng=lambda: 1.0) == 8.0
    assert backoff_delay(3, 2.0, 300, rng=lambda: 0.0) == 4.0  # default jitter: down to half
    assert backoff_delay(3, 2.0, 300, jitter=0.2, rng=lambda: 0.0) == pytest.approx(6.4)
    spread = {backoff_delay(3, 2.0, 300) for _ in range(50)}
    assert len(spread) > 1 and all(4.0 <= delay <= 8.0 for delay in spread)


def test_failures_grow_the_wait_and_a_success_resets_it():
    backoff = Backoff(1.0, 60.0, jitter=0)
    assert [backoff.failed() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff.failures == 4
    backoff.succeeded()
    assert backoff.failed() == 1.0


def test_a_run_that_lasted_reset_after_starts_the_count_afresh():
    clock = ManualClock(100.0)
    backoff = Backoff(1.0, 60.0, jitter=0, reset_after_s=30.0, clock=clock)
    for _ in range(3):
        backoff.started()
        clock.now += 1
        backoff.failed()
    backoff.started()
    clock.now += 29.9
    assert backoff.failed() == 8.0  # short of healthy: still flapping
    backoff.started()
    clock.now += 30.0
    assert backoff.failed() == 1.0
    assert backoff.failures == 1


def test_without_reset_after_only_a_success_resets():
    clock = ManualClock(100.0)
    backoff = Backoff(1.0, 60.0, jitter=0, clock=clock)
    backoff.failed()
    backoff.started()
    clock.now += 3600
    assert backoff.failed() == 2.0


def test_a_failure_without_a_recorded_start_never_resets():
    clock = ManualClock(100.0)
    backoff = Backoff(1.0, 60.0, jitter=0, reset_after_s=1.0, clock=clock)
    backoff.started()
    clock.now += 5
    assert backoff.failed() == 1.0  # healthy run: reset, then counted
    clock.now += 5
    assert backoff.failed() == 2.0  # no run in between (e.g. the process could not start)


def test_jitter_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="jitter"):
        Backoff(1.0, 2.0, jitter=1.5)
