"""Fakes of PostFlow's three gRPC services (auth, streamer, watcher), each one class that
implements the generated servicer and is served over real gRPC (`FakeServices`), driven by
the test that uses it."""

from postflow.testing.fakes.auth import FakeAuth
from postflow.testing.fakes.services import FakeServices
from postflow.testing.fakes.streamer import FakeStreamer
from postflow.testing.fakes.watcher import FakeWatcher

__all__ = ["FakeAuth", "FakeServices", "FakeStreamer", "FakeWatcher"]
