"""Approval drives the filespace: a file's review status becoming approved copies its master
into the pipeline's copy_to folder once, verified by checksum (not again for a second report,
a restart or a second approval), and enqueues one "approved" event per transition; a pipeline
without on_approved does nothing; a master moved into the done_dir is found; a failed copy
leaves no temporary file; each approval told is counted; the copy folder and review markers
are never queued; a read-only root refuses copy_to and markers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from postflow.core.config import ConfigError, build_config
from postflow.core.pipelines import pipelines_of, require_roots
from postflow.devtools.slowfs import mounted
from postflow.testing.media import sha256_file, write_media
from postflow.testing.metrics import Scrape
from postflow.testing.polling import wait_for
from postflow.testing.watcher import make_job
from postflow.v1 import common_pb2
from services.watcher.after_delivery import move_to_done
from services.watcher.jobs import Job
from services.watcher.outbound.events import Outgoing
from services.watcher.review import approved_copy
from services.watcher.review.approvals import Approvals, ApprovalStore
from services.watcher.review.metrics import ReviewMetrics
from services.watcher.routing import NotRouted, PipelineRoutes, Router
from services.watcher.scanner import FileStat, PathFilter, Scanner

DONE = common_pb2.JOB_STATE_DONE


class Events:
    def __init__(self) -> None:
        self.enqueued: list[Outgoing] = []

    async def enqueue(self, events: Iterable[Outgoing]) -> None:
        self.enqueued += events


def config_for(root: Path, **review: Any) -> Any:
    return build_config({"pipelines": [{"name": "p", "root": str(root), "after_delivery": "move",
                                        "review": review}]})


def delivered(root: Path, relpath: str) -> Job:
    st = (root / relpath).stat()
    return make_job(FileStat(relpath, st.st_size, st.st_mtime_ns, st.st_ino)).replace(
        state=DONE, view_url="https://view/1", file_id="F-1", version=2, pipeline="p")


def delivered_in_root(tmp_path: Path, relpath: str, size: int = 1_000, seed: int = 1) -> tuple[Path, Job]:
    root = tmp_path / "root"
    write_media(root / relpath, size, seed=seed)
    return root, delivered(root, relpath)


@contextlib.asynccontextmanager
async def approvals_of(tmp_path: Path, config: Any, events: Events,
                       metrics: ReviewMetrics | None = None) -> AsyncIterator[Approvals]:
    store = ApprovalStore(tmp_path / "state/approvals.sqlite")
    await store.open()
    routes = {p.name: PipelineRoutes.build(p, config) for p in pipelines_of(config)}
    try:
        yield Approvals(store, events.enqueue, routes.get, config, metrics=metrics)
    finally:
        await store.close()


async def copy_due(approvals: Approvals) -> None:
    for approval in await approvals.due():
        assert await approvals.copy(approval)


@pytest.mark.asyncio
async def test_an_approval_copies_the_master_once_verified_and_notifies_once_per_transition(tmp_path):
    root, job = delivered_in_root(tmp_path, "SQ01/cut.mov", 300_000, seed=1)
    config = config_for(root, on_approved={"notify": True, "copy_to": "APPROVED"})
    events = Events()
    async with approvals_of(tmp_path, config, events) as approvals:
        runner = asyncio.create_task(approvals.run())
        await approvals.status_seen(job, "In Review")
        await approvals.status_seen(job, "Approved")
        copy = root / "APPROVED/SQ01/cut.mov"
        stored = await wait_for(lambda: _copied(approvals, job.id), message="the copy recorded")
        assert stored.target == "APPROVED/SQ01/cut.mov" and stored.error == ""
        assert stored.sha256 == sha256_file(root / "SQ01/cut.mov") == hashlib.sha256(copy.read_bytes()).hexdigest()
        assert stored.copied_at is not None and stored.status == "Approved"
        assert sorted(os.listdir(root / "APPROVED/SQ01")) == ["cut.mov"], "no temporary file left"
        [event] = events.enqueued
        assert (event.type, event.source, event.pipelines) == ("approved", f"approved:{job.id}:1", {"p"})
        assert event.body["detail"] == {"status": "Approved", "version": 2, "view_url": "https://view/1"}
        assert event.body["job"]["path"] == "SQ01/cut.mov"

        first_copy = copy.stat().st_mtime_ns
        await approvals.status_seen(job, "Approved")
        assert len(events.enqueued) == 1 and await approvals.due() == [], "the same status again: nothing"
        await approvals.status_seen(job, "Needs Review")
        await approvals.status_seen(job, "Approved")
        assert [e.source for e in events.enqueued] == [f"approved:{job.id}:1", f"approved:{job.id}:2"]
        assert await approvals.due() == [], "copied before: not copied again"
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner

    async with approvals_of(tmp_path, config, events) as restarted:
        await restarted.status_seen(job, "Approved")
        assert await restarted.due() == [] and len(events.enqueued) == 2, "a restart remembers"
    assert copy.stat().st_mtime_ns == first_copy and sorted(os.listdir(root / "APPROVED/SQ01")) == ["cut.mov"]


@pytest.mark.asyncio
async def test_each_approval_told_is_counted_by_pipeline(tmp_path):
    root, job = delivered_in_root(tmp_path, "cut.mov")
    registry = CollectorRegistry()
    async with approvals_of(tmp_path, config_for(root, on_approved={"notify": True}), Events(),
                            ReviewMetrics(registry)) as approvals:
        for status in ("Approved", "Approved", "Needs Review", "Approved"):
            await approvals.status_seen(job, status)
    metrics = Scrape.parse(generate_latest(registry).decode())
    assert metrics.value("postflow_review_events_total", pipeline="p", event="approved") == 2
    assert metrics.total("postflow_review_events_total") == 2


async def _copied(approvals: Approvals, job_id: str) -> Any:
    stored = await approvals.approval(job_id)
    return stored if stored is not None and stored.sha256 else None


@pytest.mark.asyncio
async def test_a_copy_a_restart_cut_short_is_made_at_the_next_start(tmp_path):
    root, job = delivered_in_root(tmp_path, "cut.mov", 1_000, seed=1)
    config = config_for(root, on_approved={"notify": False, "copy_to": "APPROVED"})
    events = Events()
    async with approvals_of(tmp_path, config, events) as approvals:
        await approvals.status_seen(job, "Approved")  # no run(): stopped before copying
    async with approvals_of(tmp_path, config, events) as restarted:
        await copy_due(restarted)
        stored = await restarted.approval(job.id)
    assert stored is not None and stored.target == "APPROVED/cut.mov"
    assert (root / "APPROVED/cut.mov").read_bytes() == (root / "cut.mov").read_bytes()
    assert events.enqueued == [], "notify false: no event"


@pytest.mark.asyncio
async def test_a_pipeline_without_on_approved_does_nothing(tmp_path):
    root, job = delivered_in_root(tmp_path, "cut.mov")
    events = Events()
    async with approvals_of(tmp_path, config_for(root), events) as approvals:
        await approvals.status_seen(job, "Approved")
        assert await approvals.approval(job.id) is None and await approvals.due() == []
    assert events.enqueued == [] and not (root / "APPROVED").exists()


@pytest.mark.asyncio
async def test_a_master_moved_into_the_done_dir_is_copied_from_there(tmp_path):
    root, job = delivered_in_root(tmp_path, "SQ01/cut.mov", 5_000, seed=3)
    assert move_to_done(root, "DONE", job) == "DONE/SQ01/cut.mov"
    async with approvals_of(tmp_path, config_for(root, on_approved={"copy_to": "APPROVED"}), Events()) as approvals:
        await approvals.status_seen(job, "Approved")
        await copy_due(approvals)
        stored = await approvals.approval(job.id)
    assert stored is not None and stored.target == "APPROVED/SQ01/cut.mov"
    assert stored.sha256 == sha256_file(root / "DONE/SQ01/cut.mov") == sha256_file(root / "APPROVED/SQ01/cut.mov")


@pytest.mark.asyncio
async def test_a_changed_master_is_not_copied_and_the_error_is_kept(tmp_path):
    root, job = delivered_in_root(tmp_path, "cut.mov", 1_000, seed=1)
    write_media(root / "cut.mov", 2_000, seed=2)
    async with approvals_of(tmp_path, config_for(root, on_approved={"copy_to": "APPROVED"}), Events()) as approvals:
        await approvals.status_seen(job, "Approved")
        await copy_due(approvals)
        stored = await approvals.approval(job.id)
    assert stored is not None and stored.error == "the file changed since it was delivered" and stored.sha256 == ""
    assert not (root / "APPROVED").exists()


def test_a_copy_there_already_counts_and_other_content_gets_the_next_free_name(tmp_path):
    write_media(tmp_path / "cut.mov", 1_000, seed=1)
    job = delivered(tmp_path, "cut.mov")
    write_media(tmp_path / "APPROVED/cut.mov", 1_000, seed=9)  # same size, other content: kept
    where, sha256 = approved_copy.copy_approved(tmp_path, "DONE", "APPROVED", job, threading.Event())
    assert where == tmp_path / "APPROVED/cut (2).mov" and sha256 == sha256_file(tmp_path / "cut.mov")
    assert sha256_file(tmp_path / "APPROVED/cut.mov") != sha256
    assert approved_copy.copy_approved(tmp_path, "DONE", "APPROVED", job, threading.Event()) == (where, sha256)
    assert sorted(os.listdir(tmp_path / "APPROVED")) == ["cut (2).mov", "cut.mov"]


@pytest.mark.parametrize("failure", ["mismatch", "disk full"])
def test_a_failed_copy_leaves_no_temporary_file_and_no_target(tmp_path, monkeypatch, failure):
    write_media(tmp_path / "cut.mov", 100_000, seed=1)
    job = delivered(tmp_path, "cut.mov")
    if failure == "mismatch":
        monkeypatch.setattr(approved_copy, "sha256_of", lambda path, stopping: "0" * 64)
        expected = "reads back as other content"
    else:
        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(os, "fsync", disk_full)
        expected = "No space left on device"
    with pytest.raises(Exception, match=expected):
        approved_copy.copy_approved(tmp_path, "DONE", "APPROVED", job, threading.Event())
    assert os.listdir(tmp_path / "APPROVED") == []


def test_the_copy_folder_and_review_markers_are_never_queued(tmp_path):
    for relpath in ("a.mov", "a.mov.comments.edl", "a.mov.comments.fcpxml", "a.mov.comments.xml",
                    "SQ01/a.comments.csv", "APPROVED/b.mov", "review/OK/c.mov", "SQ01/APPROVED/d.mov"):
        write_media(tmp_path / relpath, 10)
    config = build_config({"review": {"on_approved": {"copy_to": "APPROVED"}}, "pipelines": [
        {"name": "p", "root": str(tmp_path)}]})
    routes = PipelineRoutes.build(pipelines_of(config)[0], config)
    scanner = Scanner(tmp_path, routes.path_filter)
    scanner.scan()
    assert sorted(file.path for file in scanner.settle(lambda size, since: True)) == [
        "SQ01/APPROVED/d.mov", "a.mov", "review/OK/c.mov"]
    router = Router(config)
    with pytest.raises(NotRouted, match=r"^APPROVED/b.mov: in the review.on_approved.copy_to folder of pipeline "
                                        "'p', where approved masters are copied"):
        router.route(tmp_path / "APPROVED/b.mov")
    with pytest.raises(NotRouted, match="left out"):
        router.route(tmp_path / "a.mov.comments.edl")
    own = build_config({"pipelines": [{"name": "p", "root": str(tmp_path),
                                       "review": {"on_approved": {"copy_to": "review/OK/"}}}]})
    assert PipelineRoutes.build(pipelines_of(own)[0], own).path_filter.skipped("review/OK/c.mov") == "review/OK"
    assert PathFilter(["*"], []).skipped("APPROVED/b.mov") == "", "no copy_to: an APPROVED folder is a folder"


def test_a_read_only_root_refuses_copy_to_and_markers_naming_the_key(tmp_path):
    (tmp_path / "backing").mkdir()
    ro = tmp_path / "ro"
    with mounted(tmp_path / "backing", ro, ro_flag=True):
        for review, key in (({"on_approved": {"copy_to": "APPROVED"}}, "on_approved.copy_to"),
                            ({"markers": ["edl"]}, "markers")):
            with pytest.raises(ConfigError, match=rf"^pipelines\[0\]\.review\.{key}: writes into the root, but "
                                                  rf"{ro} is read-only here"):
                require_roots(build_config({"pipelines": [{"name": "a", "root": str(ro), "review": review}]}))
            for config in ({"review": review, "pipelines": [{"name": "a", "root": str(ro)}]},
                           {"review": review, "watch": {"root": str(ro)}}):
                with pytest.raises(ConfigError, match=rf"^review\.{key}: writes into the root, but {ro} is read-only"):
                    require_roots(build_config(config))  # the key set, not a pipelines[0] or watch key never written
        assert require_roots(build_config({"pipelines": [{"name": "a", "root": str(ro), "review": {
            "on_approved": {"notify": True}}}]})) == {"a": ro.resolve()}
