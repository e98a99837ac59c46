"""The streamer service in this event loop on loopback ports, for each test that asks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from postflow.testing.streamer import Streamer, start_streamer, stop_streamer, streamer_config


@pytest_asyncio.fixture
async def streamer(tmp_path: Path) -> AsyncIterator[Streamer]:
    running = await start_streamer(streamer_config(tmp_path))
    try:
        yield running
    finally:
        await stop_streamer(running)
