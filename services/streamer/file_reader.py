"""Published files read without the event loop ever waiting on storage: open, stat, read
and close run on a bounded pool of threads, and each stream reads ahead in parallel, so a
high-latency filespace keeps every socket fed and many streams read at once.

Memory is bounded: a stream reads at most DEPTH pieces of PIECE bytes ahead (4 × 256 KiB
= 1 MiB), and all streams together hold at most BUFFERS pieces (16 × 256 KiB = 4 MiB). A
stream with nothing in flight waits its turn for a buffer; one with reads in flight reads
further ahead only while no other stream waits. The budget is small on purpose: the reads
in flight are the queue that every other request to the same storage waits behind (a small
Range request, another stream). Measured with bench/filespace.py (2 ms per read): 16
buffers give the throughput of 32 or 64, 8 lose a third of it; 256 KiB pieces cut the
latency of small requests made meanwhile by a third against 512 KiB, at the same
throughput. There are BUFFERS + META_THREADS threads, so every buffer's read can be under
way at once and an open or a stat never queues behind reads. Buffers are page-aligned
(mmap), so a read is not split by the alignment of the memory it fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import mmap
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from services.streamer.page_cache import PageCache

T = TypeVar("T")
PIECE = 256 * 1024
DEPTH = 4
BUFFERS = 16
META_THREADS = 8
KEEP_IDLE = 8  # buffers kept mapped while nothing is read, so the next stream does not fault them in again


class Threads:
    """`count` daemon threads, started with the first job, running jobs in order (no
    bookkeeping per job: each one costs its thread as little time holding the GIL as
    can be). Daemon threads: one stuck on a hung mount does not keep the process from
    exiting."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._started = False

    def submit(self, job: Callable[[], None]) -> None:
        if not self._started:
            self._started = True
            for index in range(self.count):
                threading.Thread(target=self._work, name=f"reader-{index}", daemon=True).start()
        self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def close(self) -> None:
        if self._started:
            for _ in range(self.count):
                self._jobs.put(None)


class ReaderPool:
    def __init__(self, *, buffers: int = BUFFERS, piece: int = PIECE, depth: int = DEPTH) -> None:
        self.piece = piece
        self.depth = depth
        self.page_cache = PageCache()
        self._threads = Threads(buffers + META_THREADS)
        self._limit = buffers
        self._made = 0
        self._free: list[mmap.mmap] = []
        self._waiting: deque[asyncio.Future[mmap.mmap]] = deque()

    def close(self) -> None:
        self._threads.close()

    def submit(self, settle: Callable[[Any, BaseException | None], None], fn: Callable[..., Any], *args: Any) -> None:
        """Runs `fn(*args)` on a thread, then `settle(result, error)` on the event loop."""
        loop = asyncio.get_running_loop()

        def job() -> None:
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # handed to the loop, which raises it to the caller
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:  # the loop closed meanwhile: nobody is waiting any more
                pass

        self._threads.submit(job)

    async def run(self, fn: Callable[..., T], *args: Any, abandon: Callable[[T], None] | None = None) -> T:
        """`fn(*args)` on a thread; if the caller is cancelled first, `abandon` gets the result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def settle(result: T, error: BaseException | None) -> None:
            if future.cancelled():
                if error is None and abandon is not None:
                    abandon(result)
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self.submit(settle, fn, *args)
        return await future

    def close_later(self, fd: int) -> None:
        """Closes on a thread: closing a network file may wait for the server (flush)."""
        self._threads.submit(partial(close_quietly, fd))

    async def open(self, opener: Callable[[], int]) -> SourceFile:
        return SourceFile(self, await self.run(opener, abandon=self.close_later))

    # --- buffers ---
    def take_now(self) -> mmap.mmap | None:
        """A buffer if one is free and no stream waits for one."""
        if self._waiting:
            return None
        if self._free:
            return self._free.pop()
        if self._made < self._limit:
            self._made += 1
            return mmap.mmap(-1, self.piece)
        return None

    async def take(self) -> mmap.mmap:
        buffer = self.take_now()
        if buffer is not None:
            return buffer
        waiter: asyncio.Future[mmap.mmap] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give(waiter.result())
            raise

    def give(self, buffer: mmap.mmap) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(buffer)
                return
        self._free.append(buffer)
        if len(self._free) == self._made > KEEP_IDLE:  # all idle: unmapped as the last views of them go
            del self._free[KEEP_IDLE:]
            self._made = KEEP_IDLE


class SourceFile:
    """An open file being served, and whether its file system reads cached pages without
    waiting (then `sendfile` from the loop is safe where the pages are resident). On a file
    system that may wait (network, FUSE) the file is read with O_DIRECT where allowed, as
    nginx's `directio` does for large files: each piece is then one request to the file
    system instead of a train of page-sized readaheads, and nothing fills the page cache
    with bytes that are sent once."""

    def __init__(self, pool: ReaderPool, fd: int) -> None:
        self.pool = pool
        self.fd = fd
        self.nowait: bool | None = None  # unknown until probed
        self.reads = 0  # in flight on threads: the descriptor stays open until they end
        self._closing = False

    def sendable(self, offset: int, count: int) -> bool:
        """Whether sending [offset, offset + count) with sendfile cannot wait on storage."""
        if self.nowait is False:
            return False
        return self._probe(offset) and self.pool.page_cache.resident(self.fd, offset, count)

    def _probe(self, offset: int) -> bool:
        """Whether the page at `offset` is cached; learns what kind of file system this is."""
        cached = self.pool.page_cache.nowait(self.fd, offset)
        self.nowait = cached is not None
        if cached is None:
            with contextlib.suppress(OSError):  # a file system without direct I/O is read through the cache
                fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) | os.O_DIRECT)
        return bool(cached)

    async def stat(self) -> os.stat_result:
        """On a local file system fstat reads the in-memory inode of the open file, no storage:
        the loop calls it. Elsewhere it may ask the server (attribute revalidation): a thread does."""
        return os.fstat(self.fd) if self.nowait else await self.pool.run(os.fstat, self.fd)

    def read_ahead(self, start: int, stop: int, *, stat_at_end: bool = False) -> ReadAhead:
        if self.nowait is None:
            self._probe(start)
        return ReadAhead(self, start, stop, stat_at_end)

    def read_done(self) -> None:
        self.reads -= 1
        if self._closing and not self.reads:
            self._close_now()

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            if not self.reads:
                self._close_now()

    def _close_now(self) -> None:
        if self.nowait:  # a local file system: nothing to wait for
            close_quietly(self.fd)
        else:
            self.pool.close_later(self.fd)


def close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):  # what a failed close could say, nobody waits to hear
        os.close(fd)


def read_and_stat(fd: int, buffer: mmap.mmap, offset: int, count: int) -> tuple[int, os.stat_result]:
    return read_into(fd, buffer, offset, count), os.fstat(fd)


def read_into(fd: int, buffer: mmap.mmap, offset: int, count: int) -> int:
    """Fills the buffer's first `count` bytes from `offset`; fewer only at the end of the file."""
    done = 0
    with memoryview(buffer) as view:
        while done < count:
            try:
                got = os.preadv(fd, [view[done:count]], offset + done)
            except OSError as exc:
                flags = fcntl.fcntl(fd, fcntl.F_GETFL)
                if exc.errno != errno.EINVAL or not flags & os.O_DIRECT:
                    raise
                fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)  # direct I/O wants alignment here: cached
                continue
            if not got:
                break
            done += got
    return done


class _Read:
    __slots__ = ("buffer", "future", "finished", "abandoned")

    def __init__(self, buffer: mmap.mmap, future: asyncio.Future[Any]) -> None:
        self.buffer = buffer
        self.future = future
        self.finished = False  # the thread is done with the buffer
        self.abandoned = False  # nobody will take the result: the buffer goes back when the thread is done


class ReadAhead:
    """The bytes of [start, stop) in order, as views of pool buffers read ahead on threads;
    a view stays valid until the next call. Pieces after the first start at multiples of
    the piece size. `close()` when done: buffers go back as their reads end.

    `stat_at_end`: the piece that ends at `stop`, when no other read of the file is in
    flight, is followed by an fstat in the same trip to the thread; `end_stat` then holds
    it once that piece was returned (a check of the file after every byte was read)."""

    def __init__(self, source: SourceFile, start: int, stop: int, stat_at_end: bool = False) -> None:
        self.source = source
        self.pool = source.pool
        self.end_stat: os.stat_result | None = None
        self._offset = start  # where the next read starts
        self._stop = stop
        self._stat_at_end = stat_at_end
        self._pending: deque[_Read] = deque()
        self._held: mmap.mmap | None = None

    async def next(self) -> memoryview:
        """The next piece; empty at the end, or where the file ended early."""
        self._release_held()
        if not self._pending and self._offset < self._stop:
            self._start(await self.pool.take())
        self._fill()
        if not self._pending:
            return memoryview(b"")
        read = self._pending[0]
        count = await read.future
        if isinstance(count, tuple):
            count, self.end_stat = count
        self._pending.popleft()
        self._held = read.buffer
        self._fill()
        return memoryview(read.buffer)[:count]

    def _fill(self) -> None:
        while len(self._pending) < self.pool.depth and self._offset < self._stop:
            buffer = self.pool.take_now()
            if buffer is None:
                return
            self._start(buffer)

    def _start(self, buffer: mmap.mmap) -> None:
        piece = self.pool.piece
        offset = self._offset
        count = min(self._stop, (offset // piece + 1) * piece) - offset
        self._offset += count
        read = _Read(buffer, asyncio.get_running_loop().create_future())
        self._pending.append(read)
        alone = self._stat_at_end and self._offset == self._stop and not self.source.reads
        self.source.reads += 1

        def settle(done: int | tuple[int, os.stat_result], error: BaseException | None) -> None:
            read.finished = True
            self.source.read_done()
            if read.abandoned:
                self.pool.give(read.buffer)
            elif not read.future.done():
                if error is not None:
                    read.future.set_exception(error)
                else:
                    read.future.set_result(done)

        self.pool.submit(settle, read_and_stat if alone else read_into, self.source.fd, buffer, offset, count)

    def _release_held(self) -> None:
        if self._held is not None:
            self.pool.give(self._held)
            self._held = None

    def close(self) -> None:
        self._release_held()
        while self._pending:
            read = self._pending.popleft()
            if read.future.done() and not read.future.cancelled():
                read.future.exception()  # retrieved: a failed read-ahead nobody needs is no error
            if read.finished:
                self.pool.give(read.buffer)
            else:
                read.abandoned = True
