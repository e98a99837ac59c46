from __future__ import annotations

import pytest_asyncio

from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import running_emulator


@pytest_asyncio.fixture
async def emulator():
    async with running_emulator(EmulatorOptions(rate_limits=False, allow_http_loopback_redirect=True)) as handle:
        yield handle
