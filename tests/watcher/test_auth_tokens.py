"""The watcher's access tokens: reused for seconds, never near expiry, dropped when auth's status
changes, and never answered from the one held when a 401 forces a refresh."""

from __future__ import annotations

import grpc
import pytest

from postflow.frameio import AuthTokens, ReconnectNeeded
from postflow.frameio_tokens import EXPIRY_MARGIN_S
from postflow.v1 import auth_pb2
from services.watcher.followers import AuthWatch

NOW = 1_800_000_000.0


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


class NotConnected(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.FAILED_PRECONDITION

    def details(self) -> str:
        return "not connected"


class AuthStub:
    """Answers GetAccessToken with token-1, token-2, … expiring `lifetime_s` after now."""

    def __init__(self, clock: Clock, lifetime_s: float = 3600.0) -> None:
        self.clock, self.lifetime_s = clock, lifetime_s
        self.requests: list[auth_pb2.GetAccessTokenRequest] = []
        self.fail = False

    async def GetAccessToken(self, request, timeout=None) -> auth_pb2.AccessToken:
        self.requests.append(request)
        if self.fail:
            raise NotConnected()
        token = auth_pb2.AccessToken(access_token=f"token-{len(self.requests)}")
        token.expires_at.FromSeconds(int(self.clock.now + self.lifetime_s))
        return token


@pytest.mark.asyncio
async def test_a_token_is_reused_for_reuse_s_then_asked_for_again():
    clock = Clock()
    stub = AuthStub(clock)
    tokens = AuthTokens(stub, reuse_s=30.0, clock=clock)
    assert [await tokens.access_token() for _ in range(5)] == ["token-1"] * 5
    clock.now += 29.0
    assert await tokens.access_token() == "token-1"
    clock.now += 2.0
    assert await tokens.access_token() == "token-2"
    assert len(stub.requests) == 2


@pytest.mark.asyncio
async def test_a_token_near_its_expiry_is_not_reused():
    clock = Clock()
    stub = AuthStub(clock, lifetime_s=EXPIRY_MARGIN_S + 10)
    tokens = AuthTokens(stub, reuse_s=30.0, clock=clock)
    await tokens.access_token()
    clock.now += 11.0  # still 30 s inside reuse_s, but within the margin of its expiry
    assert await tokens.access_token() == "token-2"


@pytest.mark.asyncio
async def test_a_forced_refresh_is_never_answered_from_the_held_token_and_its_answer_is_held():
    clock = Clock()
    stub = AuthStub(clock)
    tokens = AuthTokens(stub, clock=clock)
    await tokens.access_token()
    assert await tokens.access_token(force_refresh=True, rejected_token="token-1") == "token-2"
    assert stub.requests[1].force_refresh and stub.requests[1].rejected_token == "token-1"
    assert await tokens.access_token() == "token-2"
    assert len(stub.requests) == 2


@pytest.mark.asyncio
async def test_any_status_from_auth_drops_the_held_token_and_so_does_a_reconnect_needed():
    clock = Clock()
    stub = AuthStub(clock)
    tokens = AuthTokens(stub, clock=clock)
    watch = AuthWatch(stub, on_change=tokens.forget)
    await tokens.access_token()
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_CONNECTED, refresh_count=1))
    assert await tokens.access_token() == "token-2"
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_RECONNECT_NEEDED))
    stub.fail = True
    with pytest.raises(ReconnectNeeded):
        await tokens.access_token()
    assert not watch.connected


@pytest.mark.asyncio
async def test_a_token_asked_for_before_a_status_change_is_returned_but_not_held():
    clock = Clock()
    stub = AuthStub(clock)
    tokens = AuthTokens(stub, clock=clock)
    watch = AuthWatch(stub, on_change=tokens.forget)
    answered = stub.GetAccessToken

    async def status_arrives_meanwhile(request, timeout=None):
        watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_DISCONNECTED))
        return await answered(request, timeout)

    stub.GetAccessToken = status_arrives_meanwhile
    assert await tokens.access_token() == "token-1"
    stub.GetAccessToken = answered
    assert await tokens.access_token() == "token-2"


@pytest.mark.asyncio
async def test_tokens_of_a_named_connection_are_asked_for_it_and_dropped_only_by_its_changes():
    clock = Clock()
    stub = AuthStub(clock)
    tokens = AuthTokens(stub, clock=clock, connection="b")
    watch = AuthWatch(stub, on_change=tokens.forget)
    assert await tokens.access_token() == "token-1"
    assert stub.requests[0].connection == "b"
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_CONNECTED, connection="default", refresh_count=1))
    assert await tokens.access_token() == "token-1"  # another connection's change
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_CONNECTED, connection="b", refresh_count=1))
    assert await tokens.access_token() == "token-2"
    watch.lost("b")
    assert await tokens.access_token() == "token-3"


def test_each_connection_is_tracked_and_connected_is_the_default_ones():
    changed: list[str] = []
    watch = AuthWatch(AuthStub(Clock()), on_change=changed.append)
    assert watch.connected and watch.is_connected("b")  # assumed until auth says otherwise
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_CONNECTED, connection="default"))
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_RECONNECT_NEEDED, connection="b"))
    assert watch.connected and not watch.is_connected("b") and watch.is_connected("")
    assert not watch.reconnected.is_set()
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_CONNECTED, connection="b"))
    assert watch.is_connected("b") and watch.reconnected.is_set()
    watch.lost()
    assert not watch.connected and watch.is_connected("b")
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_DISCONNECTED, connection="b"))
    watch._on_status(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_REMOVED, connection="b"))
    assert watch.is_connected("b")  # forgotten: nothing known about it any more
    assert changed == ["default", "b", "b", "default", "b", "b"]
