"""After delivery, per pipeline: a delivered file moved into the done_dir (a taken name gets a
suffix, nothing is uploaded again, the done_dir never scanned) or given a sidecar (its sha256,
written atomically, never uploaded itself); a failing action leaves the job done; an action a
restart cut short runs once at the next start; a read-only root with an action that writes
stops the watcher naming the key."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import pytest

from postflow.core.config import ConfigError, build_config, load_config
from postflow.core.service import Runtime
from postflow.devtools.slowfs import mounted
from postflow.testing.media import sha256_file, write_media
from postflow.testing.polling import wait_for
from postflow.testing.watcher import (
    WatcherEnvironment,
    environment,
    list_jobs,
    make_job,
    older_ledger,
    opened_ledger,
    start_watcher,
    wait_job_state,
    wait_jobs,
)
from postflow.v1 import common_pb2
from services.watcher import jobs, schema
from services.watcher.after_delivery import move_to_done, write_sidecar
from services.watcher.jobs import Job
from services.watcher.ledger import Ledger
from services.watcher.routing import NotRouted, Router
from services.watcher.scanner import FileStat, PathFilter, Scanner
from services.watcher.server import build_service

DONE = common_pb2.JOB_STATE_DONE


def as_pipeline(env: WatcherEnvironment, **keys) -> None:
    """The environment's watch root becomes the pipeline `default` with these keys."""
    watch = {key: value for key, value in env.config["watch"].items() if key != "root"}
    env.config.update(watch=watch, pipelines=[{"name": "default", "root": str(env.root), **keys}])
    env.config_path.write_text(json.dumps(env.config))


def ledger_of(env: WatcherEnvironment) -> Ledger:
    return env.watchers[-1].service.ledger  # type: ignore[union-attr]


async def messages(env: WatcherEnvironment, job_id: str) -> list[str]:
    """The messages of the job's events that are about what followed its delivery."""
    return [event.message for event in await ledger_of(env).events_after(0, limit=10_000)
            if event.job.id == job_id and event.message.startswith("after delivery")]


async def scanned_past(env: WatcherEnvironment, passes: int = 2) -> Scanner:
    """The pipeline's scanner once it has made `passes` more passes (each sees the tree as it is now)."""
    scanner = env.watchers[-1].service.pipelines.runs["default"].detector.scanner  # type: ignore[union-attr]
    target = scanner.scans + passes
    await wait_for(lambda: scanner.scans >= target, message=f"{passes} more scan passes")
    return scanner


def exists(path: Path):
    return lambda: path.exists()


@pytest.mark.asyncio
async def test_move_puts_the_file_in_the_done_dir_keeps_the_job_done_and_suffixes_a_taken_name(tmp_path):
    async with environment(tmp_path) as env:
        as_pipeline(env, after_delivery="move")
        stub = await start_watcher(env)
        source = env.root / "SQ01/cut.mov"
        write_media(source, 100_000, seed=1)
        first = await wait_job_state(stub, "SQ01/cut.mov", DONE)
        assert await wait_for(lambda: messages(env, first.id), message="the move recorded") == [
            "after delivery: moved to DONE/SQ01/cut.mov"]
        assert not source.exists() and (env.root / "DONE/SQ01/cut.mov").exists()

        second_sha = write_media(source, 120_000, seed=2)  # the same name again: a new version
        await wait_jobs(stub, 2)
        await wait_for(exists(env.root / "DONE/SQ01/cut (2).mov"), message="the second file, suffixed")
        assert sha256_file(env.root / "DONE/SQ01/cut (2).mov") == second_sha
        assert sha256_file(env.root / "DONE/SQ01/cut.mov") != second_sha, "the first one is not overwritten"

        os.rename(env.root / "DONE/SQ01/cut (2).mov", source)  # moved back out, unchanged: not new content
        scanner = await scanned_past(env)
        await wait_for(lambda: (state := scanner.dirs.get("SQ01")) and "cut.mov" in state.name_list()
                       and not state.pending, message="the file moved back settled")
        await scanned_past(env, 1)  # what that pass found stable was handed over before the next one
        assert not [reldir for reldir in scanner.dirs if reldir.startswith("DONE")], "the done_dir was scanned"
        listed = await list_jobs(stub)
        assert len(listed) == 2 and {job.state for job in listed} == {DONE}
        assert len(await env.files()) == 2, "nothing uploaded again"
        assert source.exists(), "the file moved back stays: its content was delivered already"


@pytest.mark.asyncio
async def test_sidecar_holds_the_delivery_and_the_files_sha256_and_is_never_uploaded_itself(tmp_path):
    async with environment(tmp_path) as env:
        as_pipeline(env, after_delivery="sidecar", project="Dailies", create_projects=True)
        stub = await start_watcher(env)
        source = env.root / "SQ01/cut_v2.mov"
        sha = write_media(source, 9 * 1024 * 1024 + 7, seed=3)  # read in more than one chunk
        job = await wait_job_state(stub, "SQ01/cut_v2.mov", DONE)
        assert await wait_for(lambda: messages(env, job.id), message="the sidecar recorded") == [
            "after delivery: wrote SQ01/cut_v2.mov.frameio.json"]
        sidecar = env.root / "SQ01/cut_v2.mov.frameio.json"
        content = json.loads(sidecar.read_text())
        delivered_at = content.pop("delivered_at")
        assert content == {"view_url": job.view_url, "file_id": job.frameio_file_id, "version": 1,
                           "size": source.stat().st_size, "sha256": sha, "pipeline": "default", "project": "Dailies"}
        assert delivered_at.endswith("Z") and delivered_at[:10] == job.updated_at.ToDatetime().date().isoformat()
        assert sorted(os.listdir(source.parent)) == ["cut_v2.mov", "cut_v2.mov.frameio.json"], "no temp file left"

        scanner = await scanned_past(env)
        assert scanner.dirs["SQ01"].name_list() == ["cut_v2.mov"], "the sidecar is not even looked at"
        assert [j.path for j in await list_jobs(stub)] == ["SQ01/cut_v2.mov"]
        assert len(await env.files()) == 1


@pytest.mark.asyncio
async def test_an_action_that_fails_leaves_the_job_done_and_says_why(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with environment(tmp_path) as env:
        as_pipeline(env, after_delivery="move")
        (env.root / "DONE").mkdir()
        (env.root / "DONE/SQ01").write_text("a file where the folder should be")
        stub = await start_watcher(env)
        write_media(env.root / "SQ01/cut.mov", 50_000)
        job = await wait_job_state(stub, "SQ01/cut.mov", DONE)
        (message,) = await wait_for(lambda: messages(env, job.id), message="the action recorded")
        assert message.startswith("after delivery: could not move SQ01/cut.mov into DONE: File exists: ")
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                    and r.name == "services.watcher.after_delivery"]
        assert warnings == [f"{message}; the job stays done, the file where it was"]
        assert (env.root / "SQ01/cut.mov").exists()
        stored = await ledger_of(env).get(job.id)
        assert stored is not None and stored.state == DONE and stored.after_delivery_due == "", "not tried again"
        assert [j.state for j in await list_jobs(stub)] == [DONE]


async def delivered_before_the_restart(env: WatcherEnvironment, file: FileStat, action: str) -> Job:
    """A job the watcher made DONE, with `action` due, just before it stopped."""
    ledger = Ledger(load_config(env.config_path).state_path / "watcher" / "ledger.sqlite")
    await ledger.open()
    try:
        (job,), _ = await ledger.register([make_job(file)], "detected")
        for step in (jobs.start_attempt, lambda j: jobs.upload_started(j, "F-1"), jobs.all_bytes_sent,
                     lambda j: jobs.deliver(j, "https://view/F-1", "", 0, action, 1000.0)):
            job = await ledger.update(job.id, job.epoch, step(job))
        return job
    finally:
        await ledger.close()


@pytest.mark.asyncio
async def test_an_action_a_restart_cut_short_runs_once_at_the_next_start(tmp_path):
    async with environment(tmp_path) as env:
        as_pipeline(env, after_delivery="move")
        source = env.root / "SQ01/cut.mov"
        write_media(source, 10_000)
        st = source.stat()
        job = await delivered_before_the_restart(env, FileStat("SQ01/cut.mov", st.st_size, st.st_mtime_ns,
                                                               st.st_ino), "move")
        await start_watcher(env)
        await wait_for(exists(env.root / "DONE/SQ01/cut.mov"), message="the file moved at start")
        await wait_for(lambda: messages(env, job.id), message="the move recorded")
        await env.watchers.pop().close()

        await start_watcher(env)
        await scanned_past(env)
        assert await messages(env, job.id) == ["after delivery: moved to DONE/SQ01/cut.mov"]
        assert not source.exists() and (env.root / "DONE/SQ01/cut.mov").exists()
        assert await env.files() == [], "nothing uploaded"


@pytest.mark.asyncio
async def test_a_read_only_root_with_an_action_that_writes_stops_the_watcher_naming_the_key(tmp_path):
    (tmp_path / "backing").mkdir()
    config = {"frameio": {"client_id": "id", "client_secret": "secret"}, "state_dir": str(tmp_path / "state")}
    with mounted(tmp_path / "backing", tmp_path / "ro", ro_flag=True):
        for action in ("move", "sidecar"):
            with pytest.raises(ConfigError, match=rf'^pipelines\[0\]\.after_delivery: "{action}" writes into the '
                                                  rf"root, but {tmp_path / 'ro'} is read-only here"):
                build_service(Runtime(build_config({**config, "pipelines": [
                    {"name": "a", "root": str(tmp_path / "ro"), "after_delivery": action}]})))
        build_service(Runtime(build_config({**config, "pipelines": [{"name": "a", "root": str(tmp_path / "ro")}]})))


# -- the file work, and what is scanned ----------------------------------------------------------


def delivered(root: Path, relpath: str) -> Job:
    st = (root / relpath).stat()
    return make_job(FileStat(relpath, st.st_size, st.st_mtime_ns, st.st_ino)).replace(
        state=DONE, view_url="https://view", file_id="F-1", pipeline="default")


def test_a_move_a_crash_left_unrecorded_is_found_and_changed_content_is_left_in_place(tmp_path):
    write_media(tmp_path / "DONE/cut.mov", 1_000, seed=1)  # an earlier delivery of the same name
    write_media(tmp_path / "cut.mov", 2_000, seed=2)
    job = delivered(tmp_path, "cut.mov")
    assert move_to_done(tmp_path, "DONE", job) == "DONE/cut (2).mov"
    assert move_to_done(tmp_path, "DONE", job) == "DONE/cut (2).mov", "found where the first call put it"
    write_media(tmp_path / "cut.mov", 3_000, seed=3)
    with pytest.raises(Exception, match="the file changed since it was delivered"):
        move_to_done(tmp_path, "DONE", job)
    (tmp_path / "cut.mov").unlink()
    with pytest.raises(Exception, match="the file is no longer there"):
        move_to_done(tmp_path, "DONE", delivered(tmp_path, "DONE/cut.mov").replace(path="cut.mov", size=5))


def test_a_sidecar_that_cannot_be_written_leaves_the_one_before_whole_and_no_temp_file(tmp_path, monkeypatch):
    write_media(tmp_path / "cut.mov", 1_000)
    job = delivered(tmp_path, "cut.mov")
    sidecar = tmp_path / "cut.mov.frameio.json"
    sidecar.write_text("the sidecar of before\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        write_sidecar(tmp_path, job, threading.Event())
    assert sorted(os.listdir(tmp_path)) == ["cut.mov", "cut.mov.frameio.json"]
    assert sidecar.read_text() == "the sidecar of before\n"


def test_the_done_dir_of_a_moving_pipeline_and_every_sidecar_are_left_out(tmp_path):
    for relpath in ("a.mov", "a.mov.frameio.json", "DONE/b.mov", "SQ01/DONE/c.mov", "SQ01/c.mov.frameio.json"):
        write_media(tmp_path / relpath, 10)
    scanner = Scanner(tmp_path, PathFilter(["*"], [], skip_dirs=["DONE"]))
    scanner.scan()
    assert sorted(file.path for file in scanner.settle(lambda size, since: True)) == ["SQ01/DONE/c.mov", "a.mov"]
    router = Router(build_config({"pipelines": [{"name": "p", "root": str(tmp_path), "after_delivery": "move",
                                                  "done_dir": "/DONE/"}]}))
    with pytest.raises(NotRouted, match=r"^DONE/b.mov: in the done_dir of pipeline 'p', where delivered files go"):
        router.route(tmp_path / "DONE/b.mov")
    assert router.route(tmp_path / "SQ01/DONE/c.mov").folder == "SQ01/DONE"
    with pytest.raises(NotRouted, match="left out"):
        router.route(tmp_path / "a.mov.frameio.json")


@pytest.mark.asyncio
async def test_a_ledger_from_before_after_delivery_opens_with_nothing_due(tmp_path):
    path = tmp_path / "ledger.sqlite"
    job = await older_ledger(path, "DROP INDEX jobs_after_delivery_due; "
                                   "ALTER TABLE jobs DROP COLUMN after_delivery_due")
    async with opened_ledger(path) as reopened:
        stored = await reopened.get(job.id)
    assert stored is not None and stored.after_delivery_due == ""
    assert "after_delivery_due" in schema.ADDED_COLUMNS
