"""Progress of pulls per publication: unique coverage, rate and open connections, sent as
TransferProgress events coalesced to a few per second, plus the 25/50/75 % and "complete"
log lines (one set per publication, never one per request)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from postflow.v1 import streamer_pb2
from services.streamer.coverage import Coverage, Milestones, RateMeter
from services.streamer.publications import Publication

log = logging.getLogger(__name__)


@dataclass
class _Pull:
    publication: Publication
    coverage: Coverage = field(default_factory=Coverage)
    meter: RateMeter = field(default_factory=RateMeter)
    connections: int = 0
    milestones: Milestones = field(init=False)
    complete: bool = False
    changed: bool = False
    last_emit: float = 0.0
    flush: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.milestones = Milestones(self.publication.size)


class PullProgress:
    def __init__(self, emit: Callable[[streamer_pb2.TransferProgress], None], interval_s: float = 0.25) -> None:
        self._emit = emit
        self.interval_s = interval_s
        self._pulls: dict[str, _Pull] = {}
        self.bytes_served = 0  # every body byte sent, over all publications, ranges sent twice counted twice

    def _pull(self, publication: Publication) -> _Pull:
        pull = self._pulls.get(publication.ticket_id)
        if pull is None:
            pull = self._pulls[publication.ticket_id] = _Pull(publication)
        return pull

    def covered(self, ticket_id: str) -> int:
        pull = self._pulls.get(ticket_id)
        return pull.coverage.covered if pull else 0

    def connections(self, ticket_id: str | None = None) -> int:
        """Requests being answered for one publication, or for all."""
        if ticket_id is not None:
            pull = self._pulls.get(ticket_id)
            return pull.connections if pull else 0
        return sum(pull.connections for pull in self._pulls.values())

    def opened(self, publication: Publication) -> None:
        pull = self._pull(publication)
        pull.connections += 1
        self._schedule(pull)

    def closed(self, publication: Publication) -> None:
        pull = self._pull(publication)
        pull.connections -= 1
        self._schedule(pull)

    def served(self, publication: Publication, start: int, end: int) -> None:
        """Bytes [start, end) of the file went out."""
        pull = self._pull(publication)
        pull.meter.add(end - start)
        self.bytes_served += end - start
        if pull.coverage.add(start, end):
            for mark in pull.milestones.passed(pull.coverage.covered):
                log.info("%s: %d%% served", publication.path, mark)
        if pull.coverage.covered >= publication.size and not pull.complete:
            pull.complete = True
            log.info("%s: complete, %d bytes served (%d sent in all)", publication.path, publication.size,
                     pull.meter.total)
            self._send(pull, streamer_pb2.TRANSFER_PHASE_COMPLETE)
        else:
            self._schedule(pull)

    def forget(self, ticket_ids: list[str]) -> None:
        """Drops the progress of publications that are gone for good (purged)."""
        for ticket_id in ticket_ids:
            pull = self._pulls.pop(ticket_id, None)
            if pull is not None and pull.flush is not None:
                pull.flush.cancel()

    def source_changed(self, publication: Publication, reason: str) -> None:
        """Reported once per publication: the job restarts, later requests just get 410."""
        pull = self._pull(publication)
        if not pull.changed:
            pull.changed = True
            log.warning("%s: changed while published (%s); nothing torn was sent", publication.path, reason)
            self._send(pull, streamer_pb2.TRANSFER_PHASE_SOURCE_CHANGED, reason)

    def _schedule(self, pull: _Pull) -> None:
        if pull.complete or pull.flush is not None:
            return
        delay = pull.last_emit + self.interval_s - time.monotonic()
        if delay <= 0:
            self._send(pull, streamer_pb2.TRANSFER_PHASE_ACTIVE)
        else:
            pull.flush = asyncio.get_running_loop().call_later(delay, self._flush, pull)

    def _flush(self, pull: _Pull) -> None:
        pull.flush = None
        if not pull.complete:
            self._send(pull, streamer_pb2.TRANSFER_PHASE_ACTIVE)

    def _send(self, pull: _Pull, phase: streamer_pb2.TransferPhase, error: str = "") -> None:
        if pull.flush is not None:
            pull.flush.cancel()
            pull.flush = None
        pull.last_emit = time.monotonic()
        publication = pull.publication
        self._emit(streamer_pb2.TransferProgress(
            ticket_id=publication.ticket_id, job_id=publication.job_id, path=publication.path,
            kind=streamer_pb2.TRANSFER_KIND_PULL, phase=phase, size=publication.size,
            bytes_done=pull.coverage.covered, rate_bps=pull.meter.rate(), active_connections=pull.connections,
            error=error, trace_context=publication.trace_context,
        ))

