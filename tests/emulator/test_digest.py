"""The in-order SHA-256 of pieces that arrive in any order, in bounded memory."""

import asyncio
import hashlib

import pytest

from postflow.emulator.digest import OrderedDigest, PieceError

PIECES = [bytes([n]) * 10 for n in range(4)]
WHOLE = hashlib.sha256(b"".join(PIECES)).hexdigest()


async def chunks(data: bytes, gate: asyncio.Event | None = None, fail_after: int | None = None):
    for offset in range(0, len(data), 3):
        if gate is not None and offset:
            await gate.wait()
        if fail_after is not None and offset >= fail_after:
            raise ConnectionError("sender hung up")
        yield data[offset:offset + 3]


@pytest.mark.asyncio
async def test_pieces_in_any_order_hash_in_file_order():
    digest = OrderedDigest(4, hold_limit=100)
    for index in (3, 1, 0, 2):
        await digest.feed(index, 10, chunks(PIECES[index]))
    assert digest.complete and digest.hexdigest() == WHOLE


@pytest.mark.asyncio
async def test_a_piece_that_fails_half_way_leaves_the_hash_as_it_was():
    digest = OrderedDigest(4, hold_limit=100)
    for index in (0, 2):
        await digest.feed(index, 10, chunks(PIECES[index]))
    for index in (1, 3):
        with pytest.raises(ConnectionError):
            await digest.feed(index, 10, chunks(PIECES[index], fail_after=6))
    for index in (3, 1):
        await digest.feed(index, 10, chunks(PIECES[index]))
    assert digest.hexdigest() == WHOLE


@pytest.mark.asyncio
async def test_wrong_lengths_and_repeats_are_refused():
    digest = OrderedDigest(2, hold_limit=100)
    with pytest.raises(PieceError, match="ended after 10 of 11"):
        await digest.feed(0, 11, chunks(PIECES[0]))
    with pytest.raises(PieceError, match="longer than 9"):
        await digest.feed(1, 9, chunks(PIECES[1]))
    await digest.feed(0, 10, chunks(PIECES[0]))
    with pytest.raises(PieceError, match="already received"):
        await digest.feed(0, 10, chunks(PIECES[0]))


@pytest.mark.asyncio
async def test_an_early_piece_waits_for_room_or_its_turn():
    digest = OrderedDigest(4, hold_limit=10)
    await digest.feed(2, 10, chunks(PIECES[2]))  # held: the limit is now used up
    early = asyncio.create_task(digest.feed(3, 10, chunks(PIECES[3])))
    gate = asyncio.Event()
    first = asyncio.create_task(digest.feed(0, 10, chunks(PIECES[0], gate)))
    await asyncio.sleep(0)
    assert not early.done() and not first.done()
    gate.set()
    await first
    await digest.feed(1, 10, chunks(PIECES[1]))
    await early
    assert digest.hexdigest() == WHOLE


@pytest.mark.asyncio
async def test_an_early_piece_with_no_room_gives_up_after_its_wait():
    digest = OrderedDigest(3, hold_limit=0)
    with pytest.raises(PieceError, match="no room"):
        await digest.feed(1, 10, chunks(PIECES[1]), wait_s=0.05)
