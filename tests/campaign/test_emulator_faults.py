"""Frame.io misbehaving while files upload (faults injected into the strict emulator): 429
storms on top of the real rate limits, with and without Retry-After; about 10 % of API calls
answered with a 5xx; access tokens that expire every few seconds; a puller that hangs up
mid-file; an edge answering 401/429/5xx with HTML pages; Frame.io taking its time to process
files after the last byte; and S3 timing out part uploads or refusing expired part URLs.
Every file must end DONE, once, intact, and no service may log an ERROR for a fault it
recovered from."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from postflow.testing.campaign import MiB, Tally, campaign_seed, drop_gradually, error_lines, media_set, verify_delivery
from postflow.testing.polling import wait_for
from postflow.testing.stack import Stack, running_stack

pytestmark = pytest.mark.slow

PULL_RATE = 2 * MiB  # bytes per second per pull: the faults meet transfers in flight
Driver = Callable[[Stack, random.Random, Tally, bool], Awaitable[None]]


async def current_faults(stack: Stack) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{stack.emulator_url}/_emulator/faults")
        response.raise_for_status()
        return response.json()


async def storms(stack: Stack, rng: random.Random, tally: Tally, soak: bool) -> None:
    """Bursts of 429s on every API path, each followed by a calm spell. Frame.io documents
    only the x-ratelimit-* headers, so every other burst comes without Retry-After."""
    while True:
        count = rng.randint(10, 25)
        burst: dict = {"count": count, "path": "/v4/*"}
        if rng.random() < 0.5:
            burst["retry_after"] = 1
        await stack.fault({"rate_limit_burst": burst})
        await wait_for(lambda: burst_over(stack), timeout=60, interval=0.1, message="the 429 storm to pass")
        tally.fault("429 in storms", count)
        await asyncio.sleep(rng.uniform(1.0, 3.0))  # the calm between storms, not a synchronisation


async def burst_over(stack: Stack) -> bool:
    burst = (await current_faults(stack))["rate_limit_burst"]
    return burst["seen"] >= burst["count"]


async def server_errors(stack: Stack, rng: random.Random, tally: Tally, soak: bool) -> None:
    """One API call in 1..19 (10 % on average) answered with a 5xx: re-armed as soon as it fired."""
    armed = None
    while True:
        fault = (await current_faults(stack))["server_error"]
        if armed is None or (fault is not None and fault["seen"] >= fault["nth"]):
            if armed is not None:
                tally.fault("5xx")
            armed = {"status": rng.choice([500, 502, 503, 504]), "nth": rng.randint(1, 19), "count": 1}
            await stack.fault({"server_error": armed})
        await asyncio.sleep(0.05)


async def short_tokens(stack: Stack, rng: random.Random, tally: Tally, soak: bool) -> None:
    """Access tokens live `ttl` seconds; every `ttl` seconds all live ones are also expired at
    once (so the 401 → refresh → retry path runs, not only refresh ahead of expiry)."""
    ttl = 10 if soak else 3
    await stack.fault({"access_token_ttl": ttl, "expire_access_tokens": True})
    while True:
        await asyncio.sleep(ttl)  # the token lifetime, not a synchronisation
        await stack.fault({"expire_access_tokens": True})


async def hang_ups(stack: Stack, rng: random.Random, tally: Tally, soak: bool) -> None:
    """The puller cuts its connection once per file, somewhere in the first MiB."""
    await stack.fault({"pull_disconnect": {"at_byte": rng.randrange(1, MiB), "mode": "once"}})


async def edge_pages(stack: Stack, rng: random.Random, tally: Tally, soak: bool) -> None:
    """An edge in front of Frame.io and IMS: every 401, 429 and 5xx is an HTML page, while
    access tokens expire, 5xx answers and 429 bursts come."""
    await stack.fault({"error_body": "html", "access_token_ttl": 3})
    while True:
        await stack.fault({"expire_access_tokens": True,
                           "server_error": {"status": rng.choice([502, 503]), "nth": rng.randint(1, 10), "count": 1},
                           "rate_limit_burst": {"count": rng.randint(3, 8), "path": "/v4/*"}})
        tally.fault("HTML error pages from an edge")
        await asyncio.sleep(rng.uniform(2.0, 4.0))  # the spell between rounds, not a synchronisation


async def slow_processing(stack: Stack, rng: random.Random, tally: Tally, soak: bool) -> None:
    """Frame.io takes seconds after the last byte before it reports the upload complete."""
    delay = rng.uniform(3.0, 6.0)
    await stack.fault({"processing_delay_s": delay})
    tally.fault(f"processing delay after the last byte ({delay:.0f} s)")


async def part_faults(stack: Stack, rng: random.Random, tally: Tally, soak: bool) -> None:
    """S3 answers part PUTs with 400 RequestTimeout, now and then 403 for an expired URL."""
    while True:
        faults = {"part_request_timeout": {"count": rng.randint(1, 3)}}
        if rng.random() < 0.3:
            faults["part_url_expired"] = {"count": 1}
        await stack.fault(faults)
        await wait_for(lambda: part_faults_spent(stack), timeout=120, interval=0.1,
                       message="the part faults to be met")
        tally.fault("S3 RequestTimeout", faults["part_request_timeout"]["count"])
        if "part_url_expired" in faults:
            tally.fault("S3 expired part URL")
        await asyncio.sleep(rng.uniform(0.5, 2.0))  # the calm between rounds, not a synchronisation


async def part_faults_spent(stack: Stack) -> bool:
    faults = await current_faults(stack)
    return not any((faults.get(name) or {}).get("count") for name in ("part_request_timeout", "part_url_expired"))


@dataclass(frozen=True)
class Scenario:
    drive: Driver
    overrides: dict = field(default_factory=dict)
    emulator_args: tuple[str, ...] = ("--no-rate-limits",)


SCENARIOS = {
    "429 storms": Scenario(storms, emulator_args=()),  # Frame.io's own rate limits on as well
    "10 % 5xx": Scenario(server_errors),
    # Refresh ahead of expiry scaled to the short lifetime, as 5 min is to IMS's 24 h.
    "expiring access tokens": Scenario(short_tokens, overrides={"auth": {"refresh_margin_s": 1}}),
    "puller hang-ups": Scenario(hang_ups),
    "edge HTML errors": Scenario(edge_pages, overrides={"auth": {"refresh_margin_s": 1}}),
    "slow processing": Scenario(slow_processing),
    "S3 part faults": Scenario(part_faults, overrides={"transfer": {"mode": "push"}}),
}


async def count_after(stack: Stack, name: str, tally: Tally) -> None:
    """Faults the emulator itself records: expired access tokens, puller disconnects."""
    if name == "expiring access tokens":
        async with httpx.AsyncClient(timeout=10) as client:
            tokens = (await client.get(f"{stack.emulator_url}/_emulator/tokens")).json()["tokens"]
        tally.fault("access token expired", sum(t["kind"] == "access" and t["state"] == "expired" for t in tokens))
    elif name == "puller hang-ups":
        files = await stack.emulator_files()
        tally.fault("puller hang-up", sum((f["pull"] or {}).get("disconnects", 0) for f in files))


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_uploads_survive_frameio_faults(tmp_path, soak, tally, name):
    scenario = SCENARIOS[name]
    seed = campaign_seed()
    rng = random.Random(seed)
    injected_before = sum(tally.faults.values())
    async with running_stack(tmp_path, overrides=scenario.overrides, emulator_args=scenario.emulator_args) as stack:
        staged = media_set(stack, 16 if soak else 6, rng, name.replace(" ", "_").replace("%", "pct"),
                           sizes=(2 * MiB, 6 * MiB))
        await stack.fault({"pull_bytes_per_s": PULL_RATE})
        driver = asyncio.create_task(scenario.drive(stack, random.Random(seed + 1), tally, soak))
        try:
            await drop_gradually(stack, staged, random.Random(seed + 2))
            result = await verify_delivery(stack, {rel: digest for rel, (_, digest) in staged.items()}, tally,
                                           timeout=240 if soak else 90)
        finally:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        await count_after(stack, name, tally)
        assert sum(tally.faults.values()) > injected_before, f"{name}: no fault fired"
        assert not result.problems, f"{name}, seed {seed}: {result.problems}"
        assert not error_lines(stack), f"{name}, seed {seed}"
