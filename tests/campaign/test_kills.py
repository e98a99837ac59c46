"""kill -9 of a random service at random moments while files upload (pulls slowed so that
every kill lands on transfers in flight): nothing lost, nothing duplicated, every job DONE.
Set POSTFLOW_CAMPAIGN_SEED to replay a run; a failure shows the seed."""

from __future__ import annotations

import asyncio
import random

import pytest

from postflow.cli.supervisor import SERVICES
from postflow.testing.campaign import MiB, campaign_seed, drop_gradually, error_lines, media_set, verify_delivery
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow

PULL_RATE = 3 * MiB  # bytes per second per pull: a few seconds per file


async def kill_randomly(stack, kills: int, rng: random.Random, tally) -> list[str]:
    killed = []
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(0.2, 1.5))  # a random moment, not a synchronisation
        service = rng.choice(SERVICES)
        in_flight = any(not f["upload_complete"] for f in await stack.emulator_files())
        old = await stack.kill(service)
        tally.fault("kill -9 mid-transfer" if in_flight else "kill -9 between transfers")
        killed.append(service)
        await stack.wait_restarted(service, old)
    return killed


@pytest.mark.asyncio
async def test_kill_9_of_random_services_during_uploads(tmp_path, soak, tally):
    uploads, kills = (20, 10) if soak else (8, 4)
    seed = campaign_seed()
    async with running_stack(tmp_path) as stack:
        await stack.fault({"pull_bytes_per_s": PULL_RATE})
        staged = media_set(stack, uploads, random.Random(seed), "kill")
        dropping = asyncio.create_task(drop_gradually(stack, staged, random.Random(seed + 1)))
        killed = await kill_randomly(stack, kills, random.Random(seed + 2), tally)
        await dropping
        await stack.wait_healthy()
        result = await verify_delivery(stack, {rel: digest for rel, (_, digest) in staged.items()}, tally,
                                       timeout=240 if soak else 120)
        assert not result.problems, f"seed {seed}, killed {killed}: {result.problems}"
        assert not error_lines(stack), f"seed {seed}, killed {killed}"
