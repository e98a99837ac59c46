"""Carrying the unresolved comments of the previous version onto a new one: once, even across a crash."""

import pytest

from tests.watcher.review_fakes import Crash, FakeFrameio, review_loop

CARRY = {"carry_comments": True}


def stacked(frameio: FakeFrameio) -> None:
    """v1 (F1) and v2 (F2) in stack S, v2 the head; v2 has two open comments and a resolved one."""
    frameio.stacks["S"] = ["F3", "F2", "F1"]
    frameio.comment("F1", "old version's note")
    frameio.comment("F2", "the sky flickers", frame=30, duration=12, author="Alice")
    frameio.comment("F2", "fixed already", completed=True)
    frameio.comment("F2", "louder music", frame=None, author="Bob")


@pytest.mark.asyncio
async def test_unresolved_comments_of_the_previous_head_are_carried_once_and_never_announced(tmp_path):
    frameio = FakeFrameio()
    stacked(frameio)
    async with review_loop(tmp_path, frameio, CARRY) as loop:
        job = await loop.delivered("cut.mov", "F3", version=3, stack_id="S")
        await loop.reviews.refresh(job)
        await loop.reviews.refresh(job)
        [sky, music] = [c.id for c in frameio.comments["F2"] if c.completed_at is None]
        texts = [c.text for c in frameio.comments["F3"]]
        assert texts == [
            f"↪ carried from v2 · Alice: the sky flickers · https://next.frame.io/view/F2?comment_id={sky}",
            f"↪ carried from v2 · Bob: louder music · https://next.frame.io/view/F2?comment_id={music}"]
        carried = frameio.comments["F3"][0]
        assert (carried.timestamp, carried.duration) == (30, 12), "same place, same length"
        assert loop.outbound.events == [], "PostFlow's own comments are not news"
        stored = await loop.store.comments("F3")
        assert [c.carried_from for c in stored] == [sky, music]


@pytest.mark.asyncio
async def test_a_crash_between_the_post_and_its_record_still_leaves_exactly_one_copy(tmp_path):
    frameio = FakeFrameio(crash_after_post=True)
    stacked(frameio)
    async with review_loop(tmp_path, frameio, CARRY) as loop:
        job = await loop.delivered("cut.mov", "F3", version=3, stack_id="S")
        with pytest.raises(Crash):
            await loop.reviews.refresh(job)
    assert len(frameio.posts) == 1, "the first comment was posted, then the process died"
    frameio.crash_after_post = False
    async with review_loop(tmp_path, frameio, CARRY) as loop:
        await loop.reviews.refresh(job)
        await loop.reviews.refresh(job)
        assert len(frameio.posts) == 2, "the first adopted, only the second posted"
        texts = [c.text for c in frameio.comments["F3"]]
        assert len(texts) == len(set(texts)) == 2
        assert loop.outbound.events == []
        carried = await loop.store.carried_into("F3")
        assert len(carried) == 2 and all(carried.values()), "both recorded with their new ids"


@pytest.mark.asyncio
async def test_nothing_is_carried_unless_the_pipeline_asks_for_it_or_for_a_first_version(tmp_path):
    frameio = FakeFrameio()
    stacked(frameio)
    async with review_loop(tmp_path, frameio) as loop:
        job = await loop.delivered("cut.mov", "F3", version=3, stack_id="S")
        await loop.reviews.refresh(job)
    async with review_loop(tmp_path / "again", frameio, CARRY) as loop:
        first = await loop.delivered("new.mov", "F9", version=1)
        await loop.reviews.refresh(first)
    assert frameio.posts == []
