"""Publications over a long life: ended ones are forgotten a week later, in the database,
in memory and in the pull progress, and a restart does not bring them back."""

from __future__ import annotations

import time

import pytest

from postflow.v1 import common_pb2
from services.streamer.progress import PullProgress
from services.streamer.publications import PURGE_AFTER_S, PublicationStore
from services.streamer.roots import Roots


async def publish(store: PublicationStore, name: str, ttl_s: int = 3600):
    _, root = store.roots.named("")
    st = (root / name).stat()
    return await store.publish("", name, st.st_size, st.st_mtime_ns, ttl_s, "job", common_pb2.TraceContext())


@pytest.mark.asyncio
async def test_ended_publications_are_forgotten_after_a_week(tmp_path):
    root = tmp_path / "watch"
    root.mkdir()
    for name in ("expired.mov", "revoked.mov", "live.mov"):
        (root / name).write_bytes(b"x" * 100)
    db = tmp_path / "publications.sqlite"
    store = PublicationStore(db, Roots({"default": root}), default_ttl_s=3600)
    expired, expired_token = await publish(store, "expired.mov", ttl_s=1)
    revoked, _ = await publish(store, "revoked.mov")
    store.revoke(revoked.ticket_id)
    live, live_token = await publish(store, "live.mov")
    progress = PullProgress(lambda event: None)
    for publication in (expired, revoked, live):
        progress.served(publication, 0, 50)

    assert store.purge(now=time.time() + 60) == [], "ended, but not a week ago yet"
    purged = store.purge(now=time.time() + PURGE_AFTER_S + 60)
    progress.forget(purged)

    assert sorted(purged) == sorted([expired.ticket_id, revoked.ticket_id])
    assert store.by_token(expired_token) is None and store.token(expired.ticket_id) is None
    assert store.by_token(live_token) is live
    assert [progress.covered(t) for t in (expired.ticket_id, revoked.ticket_id, live.ticket_id)] == [0, 0, 50]
    store.close()
    reopened = PublicationStore(db, Roots({"default": root}), default_ttl_s=3600)
    assert reopened.by_token(live_token).ticket_id == live.ticket_id
    assert reopened.by_token(expired_token) is None, "purged rows are gone from the database too"
    reopened.close()
