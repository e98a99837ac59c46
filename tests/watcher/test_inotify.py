"""`watch.inotify`: on a local disk, kernel events cut the wait for the next poll, for new
files in folders that existed at start and in folders made later; polling stays on."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from postflow.testing.media import write_media
from postflow.testing.watcher import environment, start_watcher, wait_jobs
from services.watcher.inotify import ScanTrigger, TreeEvents

SLOW_POLL = {"poll_interval_s": 60.0, "stable_after_s": 0.5, "inotify": True}


@pytest.mark.asyncio
async def test_files_are_shipped_long_before_the_next_poll(tmp_path):
    async with environment(tmp_path, watch=SLOW_POLL) as env:
        (env.root / "SQ01").mkdir()
        stub = await start_watcher(env)
        await asyncio.wait_for(env.watchers[-1].service.pipelines.first_scans(), 10)  # then comes the long wait
        started = time.monotonic()
        write_media(env.root / "SQ01" / "a.mov", 100_000)
        new_folder = env.root / "SQ02" / "SH010"
        new_folder.mkdir(parents=True)  # made after the watches were set up
        write_media(new_folder / "b.mov", 100_000, seed=2)
        jobs = await wait_jobs(stub, 2, timeout=20)
        assert sorted(job.path for job in jobs) == ["SQ01/a.mov", "SQ02/SH010/b.mov"]
        assert time.monotonic() - started < 10, "shipped on the events, not at the 60 s poll"


@pytest.mark.asyncio
async def test_writes_trigger_a_scan_now_and_another_once_the_file_should_be_stable(tmp_path):
    trigger = ScanTrigger()
    events = TreeEvents(tmp_path, trigger, settle_s=0.3)
    events.open()
    events.listen()
    try:
        (tmp_path / "new").mkdir()
        await asyncio.wait_for(trigger.wait(30), 10)  # the folder appeared: at once
        with open(tmp_path / "new" / "clip.mov", "wb") as out:  # inside the folder made after open()
            out.write(os.urandom(1000))
        await asyncio.wait_for(trigger.wait(30), 10)  # written and closed: at once ...
        woke = time.monotonic()
        await asyncio.wait_for(trigger.wait(30), 10)  # ... and again after settle_s
        assert time.monotonic() - woke >= 0.2
    finally:
        events.close()
        trigger.close()
