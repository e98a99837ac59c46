"""The outbox under test without the rest of the watcher: a real ledger whose jobs a test
moves (queued, delivered, failed), and the outbox, its dispatcher and its alerts reading it
as the watcher runs them, with the config's webhooks and notification rules."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from postflow.core.config import Config, build_config
from postflow.core.logs import SecretMask
from postflow.core.outbound_config import dashboard_base, outbound_secrets
from postflow.testing.polling import wait_for
from postflow.testing.watcher import make_job
from services.watcher import jobs
from services.watcher.jobs import Job
from services.watcher.ledger import Ledger
from services.watcher.outbound.alerts import Alerts
from services.watcher.outbound.dispatcher import Outbound
from services.watcher.outbound.outbox import Entry, Outbox
from services.watcher.outbound.targets import targets_of
from services.watcher.scanner import FileStat


@dataclass
class OutboundUnderTest:
    config: Config
    ledger: Ledger
    outbox: Outbox
    outbound: Outbound
    alerts: Alerts
    mask: SecretMask

    async def queue(self, path: str, pipeline: str = "default") -> Job:
        job = make_job(FileStat(path, 1000, time.time_ns(), 1)).replace(pipeline=pipeline)
        (created,), _ = await self.ledger.register([job], "detected")
        return created

    async def deliver(self, job: Job) -> Job:
        """Takes a queued job through a whole attempt to DONE."""
        for step in (jobs.start_attempt, lambda j: jobs.upload_started(j, "F"), jobs.all_bytes_sent,
                     lambda j: jobs.deliver(j, f"https://next.frame.io/view/{j.id}", "", 0, "none", time.time())):
            updated = await self.ledger.update(job.id, job.epoch, step(job))
            assert updated is not None
            job = updated
        return job

    async def fail(self, job: Job, reason: str) -> Job:
        started = await self.ledger.update(job.id, job.epoch, jobs.start_attempt(job))
        assert started is not None
        failed = await self.ledger.update(job.id, job.epoch, jobs.fail(started, reason))
        assert failed is not None
        return failed

    async def entries(self) -> list[Entry]:
        """The delivery log, oldest first."""
        return list(reversed(await self.outbox.recent(10_000)))

    async def wait_sent(self, count: int, timeout: float = 8.0) -> list[Entry]:
        async def check() -> list[Entry]:
            sent = [entry for entry in await self.entries() if entry.status == "sent"]
            return sent if len(sent) >= count else []

        return await wait_for(check, timeout=timeout, message=f"{count} entries sent")


@contextlib.asynccontextmanager
async def outbound_under_test(state: Path, settings: dict[str, Any], *,
                              running: bool = True) -> AsyncIterator[OutboundUnderTest]:
    """`settings`: the config's `notifications`, `webhooks`, `outbound`, … (its state under
    `state`; opening the same `state` again is a restart). Not `running`: the ledger only, as
    the watcher's outbox would find it after being down."""
    watch = {} if "pipelines" in settings else {"watch": {"root": str(state)}}
    config = build_config({"state_dir": str(state), **watch, **settings})
    mask = SecretMask()
    for secret in outbound_secrets(config):
        mask.add(secret)
    ledger, outbox = Ledger(state / "ledger.sqlite"), Outbox(state / "outbox.sqlite")
    await ledger.open()
    await outbox.open()
    outbound = Outbound(outbox, ledger, config.outbound, dashboard_base(config))
    await outbound.open()
    alerts = Alerts(outbound, ledger, config)
    async with httpx.AsyncClient(timeout=httpx.Timeout(None)) as http:
        outbound.apply(await asyncio.to_thread(targets_of, config, http, mask.mask), config.outbound,
                       dashboard_base(config))
        tasks = [asyncio.create_task(outbound.run()), asyncio.create_task(alerts.run())] if running else []
        try:
            yield OutboundUnderTest(config, ledger, outbox, outbound, alerts, mask)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await outbox.close()
            await ledger.close()
