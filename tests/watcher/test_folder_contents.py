"""API economy: each Frame.io folder is listed once (however many jobs ask at the same
moment), then kept current from PostFlow's own changes; a conflict lists it again."""

import asyncio

import pytest

from postflow.frameio import RequestFailed
from postflow.testing.frameio_fake import ACCOUNT, ROOT, FakeFrameio, job_in_flight
from postflow.testing.polling import wait_for
from services.watcher.delivery.record import JobRecord
from services.watcher.delivery.stacking import Stacking
from services.watcher.folder_contents import FolderContents
from services.watcher.folders import FolderMirror


async def deliver_and_stack(fake, contents, ledger, name, folder_id) -> tuple[str, int]:
    """A delivered file called `name` in the folder, stacked as the watcher does after an upload."""
    file_id = fake.add("file", name, folder_id, size=10)
    job = await job_in_flight(ledger, name, folder_id, file_id)
    return await Stacking(fake, contents, ACCOUNT, True).stack(JobRecord(ledger, job), folder_id)


@pytest.mark.asyncio
async def test_many_jobs_asking_at_once_list_a_folder_once():
    fake = FakeFrameio(list_gate=asyncio.Event())
    for i in range(250):
        fake.add("file", f"f{i}.mov")
    contents = FolderContents(fake)
    lookups = [asyncio.create_task(contents.named(ACCOUNT, ROOT, f"f{i}.mov")) for i in range(30)]
    await wait_for(lambda: fake.calls["list_children"] == 1, timeout=5)
    fake.list_gate.set()
    found = await asyncio.gather(*lookups)
    assert [[c.name for c in named] for named in found] == [[f"f{i}.mov"] for i in range(30)]
    assert fake.calls["list_children"] == 1


@pytest.mark.asyncio
async def test_twenty_mirrored_folders_and_two_hundred_deliveries_list_only_the_root_once(ledger):
    fake = FakeFrameio()
    fake.add("folder", "SQ00")  # made by someone else before PostFlow started
    contents = FolderContents(fake)
    mirror = FolderMirror(fake, ledger, contents)
    folders = {f"SQ{i:02}": await mirror.ensure(await fake.project(), f"SQ{i:02}") for i in range(20)}
    assert fake.calls["create_folder"] == 19  # SQ00 was found, not made again
    for i in range(200):
        name = f"SQ{i % 20:02}"
        assert await deliver_and_stack(fake, contents, ledger, f"shot{i}.mov", folders[name]) == ("", 0)
    assert fake.calls["list_children"] == 2  # the root, and SQ00 (not made by PostFlow)


@pytest.mark.asyncio
async def test_a_re_export_stacks_from_what_is_known_without_listing_again(ledger):
    fake = FakeFrameio()
    contents = FolderContents(fake)
    folder_id = await FolderMirror(fake, ledger, contents).ensure(await fake.project(), "SQ01")
    first = await deliver_and_stack(fake, contents, ledger, "a.mov", folder_id)
    second = await deliver_and_stack(fake, contents, ledger, "a.mov", folder_id)
    third = await deliver_and_stack(fake, contents, ledger, "a.mov", folder_id)
    stack_id = second[0]
    assert (first, second, third) == (("", 0), (stack_id, 2), (stack_id, 3))
    assert fake.calls["list_children"] == 1  # the root, to find SQ01 before making it
    assert [c.type for c in await contents.named(ACCOUNT, folder_id, "a.mov")] == ["version_stack"]


@pytest.mark.asyncio
async def test_a_stack_made_by_someone_else_meanwhile_is_found_by_listing_again(ledger):
    fake = FakeFrameio()
    older = fake.add("file", "a.mov")
    contents = FolderContents(fake)
    await contents.named(ACCOUNT, ROOT, "a.mov")  # known: a.mov is a lone file
    other_stack = await fake.create_version_stack(ACCOUNT, ROOT, [fake.add("file", "a.mov"), older])
    stack_id, version = await deliver_and_stack(fake, contents, ledger, "a.mov", ROOT)
    assert (stack_id, version) == (other_stack, 3)  # the refusal (409) listed the folder again
    assert fake.calls["list_children"] == 2


@pytest.mark.asyncio
async def test_a_folder_made_concurrently_by_someone_else_is_found(ledger):
    fake = FakeFrameio()
    contents = FolderContents(fake)
    await contents.named(ACCOUNT, ROOT, "x")
    made_elsewhere = fake.add("folder", "SQ01")
    fake.fail_next["create_folder"] = [RequestFailed("create folder: HTTP 409 exists", 409)]
    assert await FolderMirror(fake, ledger, contents).ensure(await fake.project(), "SQ01") == made_elsewhere
