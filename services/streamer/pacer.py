"""The bandwidth limit (`transfer.bwlimit`): one token bucket shared by every byte leaving
the streamer, pulls served and parts pushed. A sender asks for a grant before each write
and gets at most a tenth of a second's worth of bytes, so the sum of all senders keeps to
the rate and a new limit (at a timetable's boundary) holds within a few grants, without
restarting any transfer. Waiting is one sleep per grant; with no limit a grant is free."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from postflow.core.bwlimit import OFF, Rate, Schedule
from postflow.v1 import streamer_pb2

BURST_S = 0.1  # the most a grant holds, and how far ahead of the rate senders may run
MIN_GRANT = 4096


class Pacer:
    def __init__(self, schedule: Schedule = OFF, clock: Callable[[], datetime] = datetime.now) -> None:
        self.schedule = schedule
        self.clock = clock  # local wall-clock time, which the timetable is in
        self._fixed = schedule.fixed
        self._fixed_rate = schedule.entries[0][1]
        self._paid_until = 0.0  # loop time by which every byte granted so far is paid for at the rate

    def rate(self) -> Rate:
        """The limit now, in bytes per second; None: no limit."""
        return self._fixed_rate if self._fixed else self.schedule.rate_at(self.clock())

    async def grant(self, wanted: int) -> int:
        """How many of `wanted` bytes (at least 1) may be sent now; waits for the rate to allow them.
        The bucket is a reservation: each grant books its slot at once, so concurrent senders
        queue in order without a lock, and a grant cancelled while waiting only wastes its slot."""
        rate = self.rate()
        if rate is None:
            return wanted
        count = min(wanted, max(MIN_GRANT, int(rate * BURST_S)))
        now = asyncio.get_running_loop().time()
        self._paid_until = max(self._paid_until, now) + count / rate
        if (wait := self._paid_until - now - BURST_S) > 0:
            await asyncio.sleep(wait)
        return count

    async def take(self, count: int) -> None:
        """Waits until `count` bytes may be sent."""
        while count > 0:
            count -= await self.grant(count)

    def give_back(self, unused: int) -> None:
        """Returns bytes granted but not sent (the file ended, the connection failed)."""
        if unused > 0 and (rate := self.rate()) is not None:
            self._paid_until -= unused / rate

    def stamp(self, status: streamer_pb2.TunnelStatus) -> streamer_pb2.TunnelStatus:
        """`status` with the limit now and the configured schedule, as status readers show them."""
        stamped = streamer_pb2.TunnelStatus()
        stamped.CopyFrom(status)
        stamped.bandwidth_limit_bps = self.rate() or 0
        stamped.bandwidth_schedule = self.schedule.text
        return stamped
