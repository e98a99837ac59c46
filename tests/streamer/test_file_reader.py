"""The reader pool: exact bytes for any range, memory within its budget however many
streams read at once, every buffer back and every descriptor closed when streams end,
whether they read to the end or stopped early."""

from __future__ import annotations

import asyncio
import os
from functools import partial

import pytest

from postflow.testing.polling import wait_for
from services.streamer.file_reader import ReaderPool, SourceFile

KiB = 1024


def opener(path) -> int:
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


async def read_all(source: SourceFile, start: int, stop: int) -> bytes:
    reader = source.read_ahead(start, stop)
    try:
        chunks = []
        while piece := await reader.next():
            chunks.append(bytes(piece))
        return b"".join(chunks)
    finally:
        reader.close()


def fd_is_open(fd: int) -> bool:
    return os.path.exists(f"/proc/self/fd/{fd}")


@pytest.mark.asyncio
async def test_any_range_is_read_exactly(tmp_path):
    data = os.urandom(300 * KiB + 7)
    (tmp_path / "f").write_bytes(data)
    pool = ReaderPool(buffers=4, piece=64 * KiB, depth=3)
    source = await pool.open(partial(opener, tmp_path / "f"))
    try:
        for start, stop in [(0, len(data)), (1, 2), (64 * KiB - 1, 64 * KiB + 1), (100, 200 * KiB + 3),
                            (len(data) - 5, len(data))]:
            assert await read_all(source, start, stop) == data[start:stop], (start, stop)
        assert await read_all(source, len(data) - 5, len(data) + 100) == data[-5:], "stops where the file ends"
    finally:
        source.close()
        pool.close()


@pytest.mark.asyncio
async def test_many_streams_share_a_bounded_set_of_buffers_and_give_them_all_back(tmp_path):
    data = os.urandom(1024 * KiB)
    (tmp_path / "f").write_bytes(data)
    pool = ReaderPool(buffers=4, piece=32 * KiB, depth=3)
    sources = [await pool.open(partial(opener, tmp_path / "f")) for _ in range(6)]
    made = []
    original_take_now = pool.take_now

    def counting_take_now():
        buffer = original_take_now()
        made.append(pool._made)
        return buffer

    pool.take_now = counting_take_now
    try:
        results = await asyncio.gather(*(read_all(source, 0, len(data)) for source in sources))
        assert all(result == data for result in results)
        assert max(made) <= 4, "never more buffers than the budget"
        await wait_for(lambda: not any(source.reads for source in sources), message="reads ended")
        assert len(pool._free) == pool._made, "every buffer back"
    finally:
        for source in sources:
            source.close()
        pool.close()


@pytest.mark.asyncio
async def test_a_stream_stopped_early_gives_back_its_buffers_and_its_descriptor_once_reads_end(tmp_path):
    (tmp_path / "f").write_bytes(os.urandom(2048 * KiB))
    pool = ReaderPool(buffers=8, piece=64 * KiB, depth=4)
    source = await pool.open(partial(opener, tmp_path / "f"))
    reader = source.read_ahead(0, 2048 * KiB)
    assert len(await reader.next()) == 64 * KiB
    assert source.reads, "reads ahead are in flight"
    reader.close()
    source.close()
    await wait_for(lambda: not source.reads and not fd_is_open(source.fd), message="reads ended, file closed")
    assert len(pool._free) == pool._made > 0
    pool.close()
