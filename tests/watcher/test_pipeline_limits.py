"""A pipeline's own `max_concurrent` caps its attempts running at once, within the global
`watch.max_concurrent`, while another pipeline keeps its own slots."""

from __future__ import annotations

from collections import Counter

import pytest

from postflow.testing.media import write_media
from postflow.testing.watcher import environment, start_watcher, wait_jobs
from services.watcher.jobs import IN_FLIGHT

FILES = {"a": 3, "b": 5}


@pytest.mark.asyncio
async def test_a_pipelines_max_concurrent_caps_its_attempts_within_the_global_limit(tmp_path):
    pipelines = [{"name": "a", "root": str(tmp_path / "a"), "max_concurrent": 1},
                 {"name": "b", "root": str(tmp_path / "b"), "max_concurrent": 3}]
    for name in FILES:
        (tmp_path / name).mkdir()
    async with environment(tmp_path, watch={"root": "", "max_concurrent": 3},
                           extra={"pipelines": pipelines}) as env:
        env.streamer.roots = {name: tmp_path / name for name in FILES}
        await env.faults(processing_delay_s=0.4)  # each attempt stays in flight long enough to overlap
        stub = await start_watcher(env)
        for name, count in FILES.items():
            for i in range(count):
                write_media(tmp_path / name / f"shot_{i}.mov", 20_000 + i, seed=i)
        await wait_jobs(stub, sum(FILES.values()), timeout=8)
        # every state change the ledger recorded, replayed (a sampled ListJobs could miss a peak)
        states: dict[str, tuple[str, int]] = {}
        peaks: Counter[str] = Counter()
        peak_total = 0
        for event in await env.watchers[0].service.ledger.events_after(0, limit=10_000):
            states[event.job.id] = (event.job.pipeline, event.job.state)
            in_flight = Counter(pipeline for pipeline, state in states.values() if state in IN_FLIGHT)
            peaks |= in_flight
            peak_total = max(peak_total, in_flight.total())
    assert peaks["a"] == 1, peaks
    assert peaks["b"] > 1, peaks
    assert peak_total == 3, f"{peak_total} in flight at once; watch.max_concurrent is 3"
