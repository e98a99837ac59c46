"""Fixtures shared by the watcher's unit tests."""

import pytest_asyncio

from services.watcher.ledger import Ledger


@pytest_asyncio.fixture
async def ledger(tmp_path):
    """An open job ledger in the test's directory."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    await ledger.open()
    yield ledger
    await ledger.close()
