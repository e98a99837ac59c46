"""The running attempt's hold on its job: the job as the attempt last wrote it, and the one
way the attempt writes it (a transition, void once the job has moved on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec

from services.watcher.delivery.errors import Superseded
from services.watcher.feed import Progress
from services.watcher.jobs import Change, Job
from services.watcher.ledger import Ledger

P = ParamSpec("P")


class JobRecord:
    def __init__(self, ledger: Ledger, job: Job) -> None:
        self.ledger = ledger
        self.job = job
        self.epoch = job.epoch  # the attempt's writes count only while this is the job's epoch

    async def apply(self, transition: Callable[Concatenate[Job, P], Change], *args: P.args, **kwargs: P.kwargs
                    ) -> Job:
        """Applies `transition(job, *args, **kwargs)`; raises Superseded if the job moved on."""
        job = await self.ledger.update(self.job.id, self.epoch, transition(self.job, *args, **kwargs))
        if job is None:
            raise Superseded(self.job.id)
        self.job = job
        return job

    async def progress(self, bytes_done: int, rate_bps: float, connections: int) -> None:
        """The transfer's progress, kept with the job while it is in flight (not written)."""
        job = await self.ledger.progress(self.job.id, self.epoch, Progress(bytes_done, rate_bps, connections))
        if job is None:
            raise Superseded(self.job.id)
        self.job = job
