"""A quick tunnel restarting with a new URL while Frame.io (the emulator) is pulling through
it. cloudflared is the stand-in of the streamer tests and Cloudflare's edge a stand-in too
(both in postflow.testing.fakes), reached by the emulator through the shim (the quick-tunnel
hostname resolves to the edge, whose certificate it trusts). The old URL dies with the old
cloudflared: every file must still end DONE, once, intact, the last bytes coming through the
new URL."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from postflow.core.config import split_address
from postflow.testing.campaign import (
    Audit,
    MiB,
    campaign_seed,
    drop,
    error_lines,
    log_lines,
    media_set,
    verify_delivery,
)
from postflow.testing.fakes.cloudflare_edge import DOMAIN, Edge
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.stack import running_stack
from postflow.testing.streamer import fake_cloudflared

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

PULL_RATE = 1 * MiB


@dataclass
class Outcome:
    seed: int
    audit: Audit
    errors: list[str]
    reissued: list[str]
    hosts: list[str]
    bytes_by_host: dict[str, int]


async def restart_tunnel_mid_transfer(tmp_path: Path, soak: bool, tally, pythonpath: str) -> Outcome:
    restarts = 3 if soak else 1
    seed = campaign_seed()
    launcher, control = fake_cloudflared(tmp_path)
    metrics = f"127.0.0.1:{free_port()}"
    edge = Edge(tmp_path, metrics, upstream_port=0)
    await edge.start()
    env = {"FAKE_CLOUDFLARED_DIR": str(control), "PYTHONPATH": pythonpath,
           "POSTFLOW_CAMPAIGN_RESOLVE": f".{DOMAIN}=127.0.0.1:{edge.port}", "POSTFLOW_CAMPAIGN_CA": str(edge.ca)}
    tunnel = {"mode": "quick", "cloudflared": str(launcher), "metrics": metrics, "restart_backoff_max_s": 1}
    try:
        async with running_stack(tmp_path, overrides={"streamer": {"tunnel": tunnel}}, env=env) as stack:
            edge.upstream_port = split_address(stack.config["streamer"]["listen"], "streamer.listen")[1]
            await wait_for(lambda: edge.current, timeout=30, message="the quick tunnel's first URL")
            await stack.fault({"pull_bytes_per_s": PULL_RATE})
            staged = media_set(stack, 2 + restarts, random.Random(seed), "tunnel", sizes=(5 * MiB, 8 * MiB))
            for relpath, (path, _) in staged.items():
                drop(stack, relpath, path)
            hosts = [edge.current]
            for _ in range(restarts):
                await wait_for(lambda: edge.bytes_by_host[hosts[-1]] > MiB, timeout=60,
                               message=f"a pull in flight through {hosts[-1]}")
                (control / "crash").touch()
                tally.fault("tunnel restart with a new URL")
                hosts.append(await wait_for(lambda: edge.current not in ("", hosts[-1]) and edge.current,
                                            timeout=30, message="the restarted tunnel's new URL"))
            result = await verify_delivery(stack, {rel: digest for rel, (_, digest) in staged.items()}, tally,
                                           timeout=180 if soak else 90)
            return Outcome(seed, result, error_lines(stack), log_lines(stack, "re-issuing"), hosts,
                           dict(edge.bytes_by_host))
    finally:
        await edge.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def outcome(tmp_path_factory, soak, tally, shim_pythonpath) -> Outcome:
    return await restart_tunnel_mid_transfer(tmp_path_factory.mktemp("tunnel"), soak, tally, shim_pythonpath)


async def test_every_file_arrives_once_through_the_new_url(outcome):
    assert not outcome.audit.problems, f"seed {outcome.seed}: {outcome.audit.problems}"
    assert not outcome.errors
    assert outcome.bytes_by_host.get(outcome.hosts[-1]), "the last pulls went through the new URL"


async def test_pulls_in_flight_are_reissued_without_spending_an_attempt(outcome):
    assert outcome.reissued, "no 're-issuing' line in the watcher's log"
    assert all(job["attempts"] == 1 for job in outcome.audit.jobs.values()), \
        {path: job["attempts"] for path, job in outcome.audit.jobs.items()}
