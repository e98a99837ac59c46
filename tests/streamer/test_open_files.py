"""Published files stay open between the requests for them, and are closed once idle; a
file modified meanwhile is refused all the same."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from postflow.testing.polling import wait_for
from services.streamer.open_files import IDLE_S


def descriptors_of(path: Path) -> int:
    """How many of this process's descriptors are open on `path` (the streamer runs in it)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except FileNotFoundError:  # closed while listed
            pass
    return count


@pytest.mark.asyncio
async def test_requests_share_one_open_file_which_is_closed_when_idle(streamer):
    streamer.media("a.mov", 3 * 1024 * 1024)
    path = (streamer.root / "a.mov").resolve()
    publication = await streamer.publish("a.mov")
    async with httpx.AsyncClient(timeout=10) as client:
        for first in range(0, 3 * 1024 * 1024, 1024 * 1024):
            response = await client.get(publication.url, headers={"Range": f"bytes={first}-{first + 99}"})
            assert response.status_code == 206
            assert descriptors_of(path) == 1, "kept open for the next request, and only once"
        await wait_for(lambda: descriptors_of(path) == 0, timeout=IDLE_S + 5, message="closed once idle")

    with open(path, "ab") as grow:
        grow.write(b"x")
    async with httpx.AsyncClient(timeout=10) as client:  # a new connection: the server ends idle ones, as it may
        assert (await client.get(publication.url)).status_code == 410


@pytest.mark.asyncio
async def test_a_file_modified_while_kept_open_is_refused(streamer):
    streamer.media("b.mov", 1000)
    path = streamer.root / "b.mov"
    publication = await streamer.publish("b.mov")
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(publication.url)).status_code == 200
        assert descriptors_of(path.resolve()) == 1
        os.utime(path, ns=(0, path.stat().st_mtime_ns + 1))  # same size, another mtime
        assert (await client.get(publication.url)).status_code == 410
