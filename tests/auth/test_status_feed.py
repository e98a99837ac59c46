"""The WatchStatus feed: one status per connection first, then changes coalesced per
connection, so a slow reader never loses one connection's change to another's."""

from __future__ import annotations

import pytest

from postflow.v1 import auth_pb2
from services.auth.status_feed import status_feed


def status(connection: str, refresh_count: int = 0) -> auth_pb2.AuthStatus:
    return auth_pb2.AuthStatus(connection=connection, refresh_count=refresh_count)


@pytest.mark.asyncio
async def test_a_slow_reader_gets_the_latest_status_of_every_connection_that_changed():
    feed = status_feed()
    with feed.subscribe([status("default"), status("b")]) as reader:
        feed.publish(status("default", 1))
        feed.publish(status("c"))
        feed.publish(status("default", 2))
        feed.close()
        read = [(item.connection, item.refresh_count) async for item in reader]
    assert read == [("b", 0), ("c", 0), ("default", 2)]


@pytest.mark.asyncio
async def test_a_reader_after_close_gets_the_current_statuses_then_ends():
    feed = status_feed()
    feed.close()
    with feed.subscribe([status("default")]) as reader:
        feed.publish(status("default", 1))
        assert [item.refresh_count async for item in reader] == [0]
