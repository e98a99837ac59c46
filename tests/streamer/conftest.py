"""The streamer service in this event loop on loopback ports, for each test that asks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from postflow.emulator.options import MIB, EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.testing.emulator import FrameioFiles
from postflow.testing.polling import wait_for
from postflow.testing.streamer import Streamer, start_streamer, stop_streamer, streamer_config
from postflow.v1 import streamer_pb2


@pytest_asyncio.fixture
async def streamer(tmp_path: Path) -> AsyncIterator[Streamer]:
    running = await start_streamer(streamer_config(tmp_path))
    try:
        yield running
    finally:
        await stop_streamer(running)


@pytest_asyncio.fixture
async def frameio():
    options = EmulatorOptions(rate_limits=False, upload_part_size=4 * MIB)
    async with running_emulator(options) as emulator, httpx.AsyncClient(timeout=30) as client:
        files = FrameioFiles(emulator.url, client)
        await files.connect()
        yield files


@pytest_asyncio.fixture
async def events(streamer):
    """Every StreamerEvent, from a WatchEvents stream opened before the test acts."""
    seen: list[streamer_pb2.StreamerEvent] = []
    call = streamer.stub.WatchEvents(streamer_pb2.WatchStreamerEventsRequest())

    async def collect():
        async for event in call:
            seen.append(event)

    task = asyncio.create_task(collect())
    await wait_for(lambda: seen, message="first event")
    yield seen
    call.cancel()
    task.cancel()
