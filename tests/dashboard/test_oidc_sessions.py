"""The sessions of people signed in with OpenID Connect outlive a dashboard restart, in a file
only the dashboard's user reads; ended, revoked and expired ones do not come back."""

import stat

import pytest

from services.dashboard.oidc_sessions import SessionStore


@pytest.mark.asyncio
async def test_sessions_survive_a_restart_and_ended_ones_do_not(tmp_path):
    path = tmp_path / "dashboard" / "sessions.sqlite"
    store = SessionStore(path, ttl_s=3600)
    await store.open()
    kept = await store.create("ann@studio.example", "Ann", "admin")
    scoped = await store.create("vic@studio.example", "Vic", "viewer", ("show-a",))
    ended = await store.create("ola@studio.example", "Ola", "operator")
    revoked = [await store.create("Zed@studio.example", "Zed", "viewer") for _ in range(2)]
    await store.end(ended)
    assert await store.revoke("zed@STUDIO.example") == 2
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    again = SessionStore(path, ttl_s=3600)
    await again.open()
    try:
        person = again.get(kept)
        assert person is not None and (person.email, person.name, person.role) == ("ann@studio.example", "Ann", "admin")
        assert person.pipelines is None
        scoped_person = again.get(scoped)
        assert scoped_person is not None and scoped_person.pipelines == ("show-a",)
        assert again.get(ended) is None and all(again.get(sid) is None for sid in revoked)
        assert [person.email for _, person in again.active()] == ["vic@studio.example", "ann@studio.example"]
    finally:
        await again.close()


@pytest.mark.asyncio
async def test_an_expired_session_is_not_loaded(tmp_path):
    path = tmp_path / "sessions.sqlite"
    store = SessionStore(path, ttl_s=-1)  # every session made here has expired at once
    await store.open()
    session_id = await store.create("ann@studio.example", "Ann", "admin")
    assert store.get(session_id) is None
    await store.close()

    again = SessionStore(path, ttl_s=3600)
    await again.open()
    try:
        assert again.get(session_id) is None and again.active() == []
    finally:
        await again.close()
