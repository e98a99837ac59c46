"""API keys: the store (hashed at rest, revocation at once, names and scopes checked), the
Authenticator (missing, malformed, unknown and revoked keys; the per-peer bad-key limit), the
policy rows of the job API and of key management, and the watcher's key RPCs."""

from __future__ import annotations

import hashlib
import stat

import grpc
import pytest
import pytest_asyncio

from postflow.core.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted, Unauthenticated
from postflow.core.mesh.api_keys import BAD_KEYS_PER_MINUTE, ApiKeys, well_formed
from postflow.core.mesh.identity import Kind, Principal, Scope, certificate
from postflow.core.mesh.peer_limit import FailureLimit, peer_host
from postflow.core.mesh.policy import Decision, decide
from postflow.core.rpc import GrpcServer, Servicer, open_channel
from postflow.testing.rpc import rpc_error
from postflow.v1 import watcher_pb2, watcher_pb2_grpc
from services.watcher.servicer import WatcherServicer

PEER = "ipv4:203.0.113.7:40001"
OTHER_PEER = "ipv4:198.51.100.2:40002"
WATCHER = "/postflow.v1.WatcherService/"


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def store(tmp_path):
    keys = ApiKeys(tmp_path / "watcher" / "api_keys.sqlite")
    await keys.open()
    yield keys
    await keys.close()


@pytest.mark.asyncio
async def test_a_key_is_shown_once_and_stored_only_as_its_hash(store, tmp_path):
    key, record = await store.create("render-farm", ["jobs:read", "jobs:write"])
    assert key.startswith("pfk_") and well_formed(key) and "render-farm" not in key
    assert record.name == "render-farm" and record.scopes == {Scope.JOBS_READ, Scope.JOBS_WRITE}
    await store.close()
    files = list((tmp_path / "watcher").iterdir())
    stored = b"".join(path.read_bytes() for path in files)
    assert key.encode() not in stored
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files), files


@pytest.mark.asyncio
async def test_keys_outlive_a_restart_and_so_does_their_revocation(tmp_path):
    path = tmp_path / "api_keys.sqlite"
    first = ApiKeys(path)
    await first.open()
    kept, _ = await first.create("kept", ["jobs:read"])
    gone, _ = await first.create("gone", ["admin"])
    await first.authenticate(kept, PEER)
    await first.revoke("gone")
    await first.close()

    again = ApiKeys(path)
    await again.open()
    try:
        assert await again.authenticate(kept, PEER) == Principal(Kind.API_KEY, "kept", frozenset({Scope.JOBS_READ}))
        with pytest.raises(Unauthenticated, match="'gone' has been revoked"):
            await again.authenticate(gone, PEER)
        records = {record.name: record for record in await again.list()}
        assert records["kept"].last_used_at is not None and records["kept"].revoked_at is None
        assert records["gone"].revoked_at is not None and records["gone"].last_used_at is None
    finally:
        await again.close()


@pytest.mark.asyncio
async def test_revocation_takes_effect_at_once(store):
    key, _ = await store.create("ci", ["jobs:write"])
    principal = await store.authenticate(key, PEER)
    assert str(principal) == "key:ci"
    revocation = store.revocation(principal)
    assert not revocation.is_set()
    revoked = await store.revoke("ci")
    assert revoked.revoked_at is not None and revocation.is_set()  # an open stream of the key ends now
    with pytest.raises(Unauthenticated, match="'ci' has been revoked"):
        await store.authenticate(key, PEER)
    assert (await store.revoke("ci")).revoked_at == revoked.revoked_at  # once revoked, stays as it was


@pytest.mark.asyncio
async def test_missing_malformed_and_unknown_keys_are_refused_without_echoing_them(store):
    await store.create("real", ["jobs:read"])
    malformed = "pfk_short-and-wrong"
    unknown = "pfk_" + "A" * 43
    for bearer, reason in (("", "no API key"), (malformed, "malformed API key"), ("Bearer x", "malformed API key"),
                           (unknown, "unknown API key")):
        with pytest.raises(Unauthenticated) as refused:
            await store.authenticate(bearer, PEER)
        message = str(refused.value)
        assert message.startswith(reason) and (not bearer or bearer not in message), message


@pytest.mark.asyncio
async def test_names_and_scopes_are_checked(store):
    await store.create("nightly.export_1", ["admin"])
    with pytest.raises(AlreadyExists, match="'nightly.export_1' already exists"):
        await store.create("nightly.export_1", ["jobs:read"])
    await store.revoke("nightly.export_1")
    with pytest.raises(AlreadyExists, match="revoked; names are not reused"):
        await store.create("nightly.export_1", ["jobs:read"])
    for bad_name in ("", "has space", "x" * 65, "slash/y"):
        with pytest.raises(InvalidArgument, match="name"):
            await store.create(bad_name, ["jobs:read"])
    with pytest.raises(InvalidArgument,
                       match="unknown scope 'jobs:delete': valid scopes are jobs:read, jobs:write, admin"):
        await store.create("other", ["jobs:read", "jobs:delete"])
    with pytest.raises(InvalidArgument, match="at least one of jobs:read, jobs:write, admin"):
        await store.create("other", [])
    with pytest.raises(NotFound, match="no API key named 'nobody'"):
        await store.revoke("nobody")
    assert [record.name for record in await store.list()] == ["nightly.export_1"]


@pytest.mark.asyncio
async def test_a_flood_of_bad_keys_is_cut_off_per_peer_without_touching_other_callers(tmp_path):
    clock = Clock()
    store = ApiKeys(tmp_path / "api_keys.sqlite", limit=FailureLimit(BAD_KEYS_PER_MINUTE, clock=clock))
    await store.open()
    try:
        key, _ = await store.create("good", ["jobs:read"])
        for _ in range(BAD_KEYS_PER_MINUTE):
            with pytest.raises(Unauthenticated):
                await store.authenticate("pfk_" + "B" * 43, PEER)
        # From then on that address is refused at once, even with a good key...
        with pytest.raises(ResourceExhausted, match="too many bad API keys"):
            await store.authenticate(key, PEER)
        # ...while another address is not held up.
        assert (await store.authenticate(key, OTHER_PEER)).name == "good"
        clock.now += 61  # a minute without bad keys from it lifts the limit
        assert (await store.authenticate(key, PEER)).name == "good"
    finally:
        await store.close()


def test_the_limit_keeps_counting_per_address_and_forgets_quiet_ones():
    clock = Clock()
    limit = FailureLimit(per_window=3, window_s=60, clock=clock)
    for _ in range(2):
        limit.failed("10.0.0.1")
    assert not limit.exceeded("10.0.0.1")
    clock.now += 30
    limit.failed("10.0.0.1")
    assert limit.exceeded("10.0.0.1") and not limit.exceeded("10.0.0.2")
    clock.now += 31  # the first two are over a minute old
    assert not limit.exceeded("10.0.0.1")


def test_the_limit_tracks_a_bounded_number_of_addresses():
    clock = Clock()
    limit = FailureLimit(per_window=1, clock=clock, max_peers=2)
    limit.failed("10.0.0.1")
    clock.now += 61
    limit.failed("10.0.0.2")
    limit.failed("10.0.0.3")  # 10.0.0.1 has been quiet for a minute: forgotten
    assert limit.exceeded("10.0.0.2") and limit.exceeded("10.0.0.3")
    limit.failed("10.0.0.4")  # all busy: the longest tracked is forgotten
    assert not limit.exceeded("10.0.0.2") and limit.exceeded("10.0.0.3") and limit.exceeded("10.0.0.4")


@pytest.mark.parametrize(("peer", "host"), [
    ("ipv4:10.1.2.3:5555", "10.1.2.3"), ("ipv6:[::1]:5555", "::1"), ("ipv6:%5B::1%5D:80", "::1"),
    ("unix:/tmp/s", "/tmp/s"), ("", ""), ("10.1.2.3:5555", "10.1.2.3"), ("::1:5555", "::1"),
])
def test_peer_host(peer, host):
    assert peer_host(peer) == host


def key(*scopes: Scope) -> Principal:
    return Principal(Kind.API_KEY, "tool", frozenset(scopes))


@pytest.mark.parametrize(("principal", "method", "decision"), [
    (key(Scope.JOBS_READ), "ListJobs", Decision.ALLOW),
    (key(Scope.JOBS_READ), "WatchJobs", Decision.ALLOW),
    (key(Scope.JOBS_READ), "GetJob", Decision.ALLOW),
    (key(Scope.JOBS_READ), "GetStats", Decision.ALLOW),
    (key(Scope.JOBS_READ), "SubmitFile", Decision.DENY),
    (key(Scope.JOBS_READ), "CancelJob", Decision.DENY),
    (key(Scope.JOBS_READ), "RetryJob", Decision.DENY),
    (key(Scope.JOBS_WRITE), "SubmitFile", Decision.ALLOW),
    (key(Scope.JOBS_WRITE), "CancelJob", Decision.ALLOW),
    (key(Scope.JOBS_WRITE), "ListJobs", Decision.ALLOW),
    (key(Scope.JOBS_WRITE), "CreateApiKey", Decision.DENY),
    (key(Scope.JOBS_WRITE), "RevokeApiKey", Decision.DENY),
    (key(Scope.ADMIN), "CreateApiKey", Decision.ALLOW),
    (key(Scope.ADMIN), "ListApiKeys", Decision.ALLOW),
    (key(Scope.ADMIN), "RevokeApiKey", Decision.ALLOW),
    (key(Scope.ADMIN), "SubmitFile", Decision.ALLOW),
    (certificate("admin"), "CreateApiKey", Decision.ALLOW),
    (certificate("dashboard"), "CreateApiKey", Decision.DENY),
    (certificate("watcher"), "ListApiKeys", Decision.DENY),
])
def test_scopes_in_the_policy(principal, method, decision):
    assert decide(principal, WATCHER + method) == decision


@pytest.mark.asyncio
async def test_the_key_rpcs(store):
    """CreateApiKey, ListApiKeys, RevokeApiKey on a real server: the key once, never a hash,
    errors with their codes."""
    server = GrpcServer()
    server.add(Servicer(watcher_pb2, watcher_pb2_grpc.add_WatcherServiceServicer_to_server,
                        WatcherServicer(None, None, None, None, store, None, None, None, None, None, None)))  # type: ignore[arg-type]
    port = await server.start("127.0.0.1:0")
    try:
        async with open_channel(f"127.0.0.1:{port}") as channel:
            stub = watcher_pb2_grpc.WatcherServiceStub(channel)
            created = await stub.CreateApiKey(watcher_pb2.CreateApiKeyRequest(name="mam", scopes=["jobs:read"]))
            assert well_formed(created.key) and created.api_key.name == "mam"
            assert list(created.api_key.scopes) == ["jobs:read"] and created.api_key.HasField("created_at")
            await store.authenticate(created.key, PEER)

            error = await rpc_error(stub.CreateApiKey(watcher_pb2.CreateApiKeyRequest(name="mam", scopes=["admin"])))
            assert error.code() == grpc.StatusCode.ALREADY_EXISTS and "'mam'" in error.details()
            error = await rpc_error(stub.CreateApiKey(watcher_pb2.CreateApiKeyRequest(name="x", scopes=["root"])))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "valid scopes are jobs:read, jobs:write, admin" in error.details()
            error = await rpc_error(stub.RevokeApiKey(watcher_pb2.RevokeApiKeyRequest(name="nobody")))
            assert error.code() == grpc.StatusCode.NOT_FOUND and "'nobody'" in error.details()

            (listed,) = (await stub.ListApiKeys(watcher_pb2.ListApiKeysRequest())).api_keys
            assert listed.name == "mam" and listed.HasField("last_used_at") and not listed.HasField("revoked_at")
            digest = hashlib.sha256(created.key.encode()).hexdigest()
            assert created.key not in str(listed) and digest not in str(listed)
            revoked = await stub.RevokeApiKey(watcher_pb2.RevokeApiKeyRequest(name="mam"))
            assert revoked.HasField("revoked_at")
            with pytest.raises(Unauthenticated):
                await store.authenticate(created.key, PEER)
    finally:
        await server.stop(0)
