"""Published files kept open between the requests for them, as nginx's `open_file_cache`:
Frame.io's puller sends many Range requests per file, and each open is a trip to a thread
(some 60 µs of CPU, a sixth of a 1 MiB range from a warm disk) and, on a network file
system, one to its server. A reused file is checked first (size and mtime, as at every
chunk); one no request used for IDLE_S is closed. A file replaced at its path (a new file
renamed over it) keeps being served, unchanged and whole, from the file that was
published, until it has been idle that long."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

from services.streamer.file_reader import ReaderPool, SourceFile
from services.streamer.publications import Publication, PublicationChanged, open_source

IDLE_S = 2.0


@dataclass
class OpenFile:
    ticket_id: str
    source: SourceFile
    users: int = 0
    idle: asyncio.TimerHandle | None = None


class OpenFiles:
    def __init__(self, reader: ReaderPool, idle_s: float = IDLE_S) -> None:
        self.reader = reader
        self.idle_s = idle_s
        self._by_ticket: dict[str, OpenFile] = {}

    async def acquire(self, publication: Publication) -> OpenFile:
        """The publication's file, open and still as published; raises PublicationChanged otherwise.
        Give it back with `release`."""
        opened = self._by_ticket.get(publication.ticket_id)
        if opened is not None:
            self._use(opened)
            try:
                if publication.matches(await opened.source.stat()):
                    return opened
                raise PublicationChanged("size or mtime changed since it was published")
            except BaseException:
                self._forget(opened)
                self.release(opened)
                raise
        source = await self.reader.open(partial(open_source, publication))
        opened = self._by_ticket.setdefault(publication.ticket_id, OpenFile(publication.ticket_id, source))
        if opened.source is not source:  # another request opened it meanwhile: share that one
            source.close()
        self._use(opened)
        return opened

    def release(self, opened: OpenFile) -> None:
        opened.users -= 1
        if opened.users:
            return
        if self._by_ticket.get(opened.ticket_id) is opened:
            opened.idle = asyncio.get_running_loop().call_later(self.idle_s, self._expire, opened)
        else:
            opened.source.close()

    def close(self) -> None:
        for opened in list(self._by_ticket.values()):
            self._forget(opened)
            if not opened.users:
                opened.source.close()

    def _use(self, opened: OpenFile) -> None:
        opened.users += 1
        if opened.idle is not None:
            opened.idle.cancel()
            opened.idle = None

    def _forget(self, opened: OpenFile) -> None:
        if self._by_ticket.get(opened.ticket_id) is opened:
            del self._by_ticket[opened.ticket_id]
        if opened.idle is not None:
            opened.idle.cancel()
            opened.idle = None

    def _expire(self, opened: OpenFile) -> None:
        opened.idle = None
        self._forget(opened)
        opened.source.close()
