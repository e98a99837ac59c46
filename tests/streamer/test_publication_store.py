"""Publications over a long life: ended ones are forgotten a week later, in the database,
in memory and in the pull progress, and a restart does not bring them back; a database from
before pipelines keeps its publications, in the pipeline `default`."""

from __future__ import annotations

import sqlite3
import time

import pytest

from postflow.v1 import common_pb2
from services.streamer.progress import PullProgress
from services.streamer.publications import PURGE_AFTER_S, PublicationStore, token_digest
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


@pytest.mark.asyncio
async def test_a_database_from_before_pipelines_gets_its_publications_in_the_default_pipeline(tmp_path):
    root = tmp_path / "watch"
    root.mkdir()
    for name in ("old.mov", "new.mov"):
        (root / name).write_bytes(b"x" * 100)
    st = (root / "old.mov").stat()
    db = tmp_path / "publications.sqlite"
    old = sqlite3.connect(db)
    old.execute("""CREATE TABLE publications (ticket_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL, real_path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL, job_id TEXT NOT NULL, traceparent TEXT NOT NULL, tracestate TEXT NOT NULL,
        created_at REAL NOT NULL, expires_at REAL NOT NULL, revoked_at REAL)""")
    old.execute("INSERT INTO publications VALUES ('t-old', ?, 'old.mov', ?, 100, ?, ?, 'job', '', '', ?, ?, NULL)",
                (token_digest("old-token"), str(root / "old.mov"), st.st_mtime_ns, st.st_ino, time.time(),
                 time.time() + 3600))
    old.commit()
    old.close()

    store = PublicationStore(db, Roots({"default": root}), default_ttl_s=3600)
    migrated = store.by_token("old-token")
    assert (migrated.pipeline, migrated.path) == ("default", "old.mov") and store.ended(migrated) is None
    new, new_token = await publish(store, "new.mov")
    store.close()
    reopened = PublicationStore(db, Roots({"default": root}), default_ttl_s=3600)
    assert reopened.by_token("old-token").pipeline == reopened.by_token(new_token).pipeline == "default"
    assert reopened.by_token(new_token).path == "new.mov" and reopened.by_token(new_token).size == 100
    reopened.close()
