"""Version stacks: the new file is verified to be the head (moved there if Frame.io put it
lower), and the version number is its real position in the stack."""

import asyncio
import logging

import pytest

from postflow.testing.frameio_fake import ACCOUNT, ROOT, FakeFrameio, job_in_flight
from services.watcher.delivery.record import JobRecord
from services.watcher.delivery.stacking import Stacking
from services.watcher.folder_contents import FolderContents


async def stack_new_version(fake, contents, ledger) -> tuple[str, tuple[str, int]]:
    file_id = fake.add("file", "a.mov", size=10)
    job = await job_in_flight(ledger, "a.mov", ROOT, file_id)
    return file_id, await Stacking(fake, contents, ACCOUNT, True).stack(JobRecord(ledger, job), ROOT)


@pytest.mark.asyncio
async def test_placed_on_top_it_is_not_reordered(ledger):
    fake = FakeFrameio(placement="top")
    fake.add("file", "a.mov")
    contents = FolderContents(fake)
    _, (stack_id, second) = await stack_new_version(fake, contents, ledger)
    newest, (_, third) = await stack_new_version(fake, contents, ledger)
    assert (second, third) == (2, 3)
    assert fake.stacks[stack_id][-1] == newest
    assert fake.calls["reorder_version_stack"] == 0


@pytest.mark.asyncio
async def test_placed_at_the_bottom_it_is_moved_to_the_top(ledger, caplog):
    caplog.set_level(logging.INFO)
    fake = FakeFrameio(placement="bottom")
    fake.add("file", "a.mov")
    contents = FolderContents(fake)
    _, (stack_id, _) = await stack_new_version(fake, contents, ledger)  # created: new file on top
    newest, (same_stack, version) = await stack_new_version(fake, contents, ledger)  # moved in: lands at the bottom
    assert same_stack == stack_id
    assert fake.stacks[stack_id][-1] == newest and version == 3
    assert fake.calls["reorder_version_stack"] == 1
    assert any("moved it to the top" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_a_refused_reorder_reports_the_real_position(ledger, caplog):
    fake = FakeFrameio(placement="bottom", reorder_refused=True)
    fake.add("file", "a.mov")
    contents = FolderContents(fake)
    await stack_new_version(fake, contents, ledger)
    newest, (stack_id, version) = await stack_new_version(fake, contents, ledger)
    assert fake.stacks[stack_id][0] == newest
    assert version == 1  # the bottom of three
    assert any("delivered as version 1 of 3, not the newest" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_two_versions_finishing_together_make_one_stack(ledger):
    fake = FakeFrameio()
    contents = FolderContents(fake)
    records = []
    for _ in range(2):
        file_id = fake.add("file", "a.mov", size=10)
        records.append(JobRecord(ledger, await job_in_flight(ledger, "a.mov", ROOT, file_id)))
    stacking = Stacking(fake, contents, ACCOUNT, True)
    results = await asyncio.gather(*(stacking.stack(record, ROOT) for record in records))
    # The first to look stacks the other's file under its own; the other finds it stacked.
    assert sorted(version for _, version in results) == [1, 2]
    assert fake.calls["create_version_stack"] == 1 and len(fake.stacks) == 1
    assert fake.calls["reorder_version_stack"] == 0
