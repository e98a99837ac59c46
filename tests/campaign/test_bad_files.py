"""Bad input from the file system, against one running stack whose services have no
CAP_DAC_OVERRIDE (the shim drops it), so file permissions apply to them as to the service
user of a real install even though the tests run as root: unreadable files and folders,
names at the limits, names that are not UTF-8, symlinks leading out of the watch root, and a
file deleted while Frame.io pulls it. Each gets a clear answer; no service restarts."""

from __future__ import annotations

import os
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio

from postflow.core.clients import Clients
from postflow.core.config import load_config
from postflow.testing.campaign import (
    MiB,
    assert_still_running,
    drop,
    jobs,
    log_lines,
    pids,
    settled,
    stage,
    verify_delivery,
)
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.stack import Stack, running_stack
from postflow.v1 import streamer_pb2, watcher_pb2

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class Running:
    stack: Stack
    clients: Clients
    pids: dict


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory, shim_pythonpath):
    env = {"PYTHONPATH": shim_pythonpath, "POSTFLOW_CAMPAIGN_DROP_CAPS": "1"}
    async with running_stack(tmp_path_factory.mktemp("bad-files"), env=env) as stack:
        async with Clients(load_config(stack.config_path, env={})) as clients:
            yield Running(stack, clients, pids(stack))


async def delivered(running: Running, relpath: str, seed: int, tally) -> None:
    """Drops a good file and waits for it: proof that scanning and uploading went on."""
    staged, digest = stage(running.stack, relpath, 1 * MiB, seed)
    drop(running.stack, relpath, staged)
    result = await verify_delivery(running.stack, {relpath: digest}, tally, timeout=60)
    assert not result.problems, result.problems


async def job_paths(stack: Stack) -> set[str]:
    return {job["path"] for job in await jobs(stack) or []}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def unreadable_job(running, tally) -> dict:
    stack = running.stack
    staged, _ = stage(stack, "locked.mov", 2 * MiB, seed=11)
    staged.chmod(0)
    drop(stack, "locked.mov", staged)
    tally.fault("bad input: unreadable file")
    return (await settled(stack, {"locked.mov"}, timeout=60))["locked.mov"]


async def test_an_unreadable_file_fails_and_nothing_reaches_frameio(running, unreadable_job):
    assert unreadable_job["state"] == "failed"
    assert not [f for f in await running.stack.emulator_files() if f["name"] == "locked.mov" and f["upload_complete"]]
    await assert_still_running(running.stack, running.pids)


async def test_an_unreadable_file_fails_with_a_clear_error_at_once(unreadable_job):
    assert unreadable_job["attempts"] == 1, unreadable_job
    assert "permission denied" in unreadable_job["error"].lower(), unreadable_job["error"]


async def test_an_unreadable_folder_is_reported_then_shipped_once_readable(running, tally):
    stack = running.stack
    private = stack.watch_root / "private"
    private.mkdir()
    private.chmod(0)
    staged, digest = stage(stack, "inside.mov", 1 * MiB, seed=12)
    os.replace(staged, private / "inside.mov")  # the test runs as root: it may
    tally.fault("bad input: unreadable folder")
    await wait_for(lambda: log_lines(stack, "cannot read private in the watch folder: Permission denied"),
                   timeout=30, message="the scanner's warning")
    await delivered(running, "after-private.mov", 13, tally)
    assert "private/inside.mov" not in await job_paths(stack)
    private.chmod(0o755)
    result = await verify_delivery(stack, {"private/inside.mov": digest}, tally, timeout=60)
    assert not result.problems, result.problems
    assert log_lines(stack, "private in the watch folder is readable again")
    await assert_still_running(stack, running.pids)


NAMES = {
    "255 bytes of ASCII": "a" * 251 + ".mov",
    "254 bytes of two-byte characters": "é" * 125 + ".mov",
    "accents, CJK and emoji": "Scène 01 – café 日本語 🎬.mov",
    "decomposed (NFD) accent": "Cafe\u0301 NFD.mov",
}


async def test_long_and_unicode_names_arrive_intact(running, tally):
    stack = running.stack
    expected = {}
    for seed, name in enumerate(NAMES.values(), start=20):
        assert len(name.encode()) <= 255
        staged, expected[f"SQ01/{name}"] = stage(stack, name, 1 * MiB + seed, seed)
        drop(stack, f"SQ01/{name}", staged)
    tally.fault("bad input: long and unicode names", len(NAMES))
    result = await verify_delivery(stack, expected, tally, timeout=60)
    assert not result.problems, result.problems
    await assert_still_running(stack, running.pids)


async def test_a_name_that_is_not_utf8_is_reported_and_skipped(running, tally):
    stack = running.stack
    with open(os.fsencode(stack.watch_root) + b"/latin1-\xe9t\xe9.mov", "wb") as out:
        out.write(os.urandom(4096))
    tally.fault("bad input: name not UTF-8")
    await wait_for(lambda: log_lines(stack, "name is not valid UTF-8"), timeout=30, message="the scanner's warning")
    await delivered(running, "after-latin1.mov", 30, tally)
    assert not [path for path in await job_paths(stack) if path.startswith("latin1-")]
    await assert_still_running(stack, running.pids)


async def test_symlinks_escaping_the_root_are_refused(running, tally):
    stack = running.stack
    outside = stack.root / "outside"
    secret = outside / "secret.mov"
    write_media(secret, 1 * MiB, seed=40)
    (stack.watch_root / "escape.mov").symlink_to(secret)
    (stack.watch_root / "linked").symlink_to(outside, target_is_directory=True)
    (stack.watch_root / "SQ09").mkdir()
    (stack.watch_root / "SQ09" / "relative.mov").symlink_to("../../../outside/secret.mov")
    tally.fault("bad input: symlinks escaping the root", 3)
    await delivered(running, "after-symlinks.mov", 41, tally)
    assert not {"escape.mov", "linked/secret.mov", "SQ09/relative.mov"} & await job_paths(stack)

    st = secret.stat()
    for path in ("escape.mov", "linked/secret.mov", "SQ09/relative.mov", str(secret)):
        with pytest.raises(grpc.RpcError) as refused:
            await running.clients.watcher.SubmitFile(watcher_pb2.SubmitFileRequest(path=path), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not inside the watch root" in refused.value.details()
    for path in ("escape.mov", "linked/secret.mov", "../outside/secret.mov", str(secret)):
        with pytest.raises(grpc.RpcError) as refused:
            await running.clients.streamer.Publish(streamer_pb2.PublishRequest(
                path=path, size=st.st_size, mtime_ns=st.st_mtime_ns, job_id="campaign"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "outside the pipeline's root" in refused.value.details() or "relative" in refused.value.details()
    assert not [f for f in await stack.emulator_files() if f["name"] in ("secret.mov", "escape.mov", "relative.mov")]
    await assert_still_running(stack, running.pids)


async def test_a_file_deleted_mid_upload_cancels_its_job(running, tally):
    stack = running.stack
    await stack.fault({"pull_bytes_per_s": 1 * MiB})
    try:
        staged, _ = stage(stack, "vanishing.mov", 6 * MiB, seed=50)
        drop(stack, "vanishing.mov", staged)

        async def pulling() -> bool:
            files = await stack.emulator_files()
            return any(f["name"] == "vanishing.mov" and f["bytes_received"] >= MiB for f in files)

        await wait_for(pulling, timeout=30, message="Frame.io pulling vanishing.mov")
        (stack.watch_root / "vanishing.mov").unlink()
        tally.fault("bad input: file deleted mid-upload")
        job = (await settled(stack, {"vanishing.mov"}, timeout=30))["vanishing.mov"]
    finally:
        await stack.fault({"pull_bytes_per_s": None})
    assert job["state"] == "cancelled"
    assert job["error"] == "the file was removed from the watch folder"

    async def incomplete_file_removed() -> bool:
        return not [f for f in await stack.emulator_files() if f["name"] == "vanishing.mov"]

    await wait_for(incomplete_file_removed, timeout=30, message="the incomplete Frame.io file deleted")
    await assert_still_running(stack, running.pids)
