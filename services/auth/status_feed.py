"""The statuses of every connection for the WatchStatus streams. Each stream starts with one
current status per connection, then gets each change; changes coalesce per connection (a
slow reader gets each connection's latest status, and never loses one connection's change
to another's)."""

from __future__ import annotations

from postflow.core.pubsub import Overflow, Topic
from postflow.v1 import auth_pb2

# Connections a slow stream can have changes pending for; past it, the stream ends. Far more
# than a config names, so in practice the pending changes are never cut short.
PENDING_CONNECTIONS = 1024


def status_feed() -> Topic[auth_pb2.AuthStatus]:
    """Subscribe with the current statuses as `first`."""
    return Topic(PENDING_CONNECTIONS, Overflow.LATEST_PER_KEY, name="WatchStatus",
                 key=lambda status: status.connection)
