"""Where a Frame.io client gets its access tokens: `TokenSource`, and `AuthTokens`, the auth
service's tokens for one connection, held for seconds at most."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import grpc

from postflow.core.errors import FailedPrecondition, from_rpc_error
from postflow.core.logs import SecretMask
from postflow.core.pipelines import DEFAULT
from postflow.frameio_errors import ReconnectNeeded, TransientError
from postflow.v1 import auth_pb2, auth_pb2_grpc

TOKEN_REUSE_S = 30.0  # how long the watcher reuses an access token before asking auth again
EXPIRY_MARGIN_S = 60.0  # ... and never this close to its expiry


class TokenSource(Protocol):
    async def access_token(self, *, force_refresh: bool = False, rejected_token: str = "") -> str: ...


class AuthTokens:
    """Access tokens of one Frame.io connection (`connection`; "" = "default") from the auth
    service (`AuthService.GetAccessToken`). One is reused for at most `reuse_s` and never within
    `EXPIRY_MARGIN_S` of its expiry, so a job's dozen Frame.io calls do not each cost a call to
    auth; `forget()` drops it at once (the watcher calls it whenever auth's status changes: a
    refresh, a disconnect, the re-login deadline). A 401 asks with `force_refresh`, which is
    never answered from the one held."""

    def __init__(self, stub: auth_pb2_grpc.AuthServiceStub, secrets: SecretMask | None = None,
                 timeout_s: float = 15.0, reuse_s: float = TOKEN_REUSE_S,
                 clock: Callable[[], float] = time.time, connection: str = "") -> None:
        self.connection = connection
        self._stub = stub
        self._secrets = secrets
        self._timeout_s = timeout_s
        self._reuse_s = reuse_s
        self._clock = clock
        self._held = ""
        self._held_until = 0.0
        self._generation = 0  # bumped by forget(), so an answer asked for before it is not kept

    async def access_token(self, *, force_refresh: bool = False, rejected_token: str = "") -> str:
        if not force_refresh and self._held and self._clock() < self._held_until:
            return self._held
        generation = self._generation
        request = auth_pb2.GetAccessTokenRequest(force_refresh=force_refresh, rejected_token=rejected_token,
                                                 connection=self.connection)
        try:
            response = await self._stub.GetAccessToken(request, timeout=self._timeout_s)
        except grpc.RpcError as exc:
            self.forget()
            error = from_rpc_error(exc)
            if isinstance(error, FailedPrecondition):
                raise ReconnectNeeded(f"Frame.io reconnect needed: {error}") from None
            raise TransientError(f"auth service: {error}") from None
        if self._secrets is not None:
            self._secrets.add(response.access_token)
        if generation == self._generation:
            self._hold(response)
        return response.access_token

    def forget(self, connection: str | None = None) -> None:
        """Drops the token held, when `connection` is this one's (or not given)."""
        if connection is not None and (connection or DEFAULT) != (self.connection or DEFAULT):
            return
        self._held, self._held_until = "", 0.0
        self._generation += 1

    def _hold(self, response: auth_pb2.AccessToken) -> None:
        now = self._clock()
        until = now + self._reuse_s
        if response.HasField("expires_at"):
            until = min(until, response.expires_at.seconds - EXPIRY_MARGIN_S)
        self._held, self._held_until = response.access_token, until
