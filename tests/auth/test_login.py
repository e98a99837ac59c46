"""The web-app OAuth flow through the real service and the emulator's IMS: a login connects;
forged, replayed, expired and wrongly bound states are refused and store nothing."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest

from postflow.core.pkce import code_challenge
from postflow.testing.auth import (
    BINDING,
    REDIRECT_URI,
    auth_config,
    authorize,
    login,
    me_status,
    running_auth,
    stored_record,
)
from postflow.testing.rpc import rpc_error
from postflow.v1 import auth_pb2


def complete(code: str, state: str, binding: str = BINDING) -> auth_pb2.CompleteAuthorizationRequest:
    return auth_pb2.CompleteAuthorizationRequest(code=code, state=state, binding=binding)


async def assert_refused(auth, config, request: auth_pb2.CompleteAuthorizationRequest, phrase: str) -> None:
    """INVALID_ARGUMENT naming the reason, still disconnected, and nothing stored."""
    error = await rpc_error(auth.stub.CompleteAuthorization(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and phrase in error.details()
    assert (await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())).state == auth_pb2.AUTH_STATE_DISCONNECTED
    assert stored_record(config) is None


async def begin_and_authorize(stub, binding: str = BINDING) -> tuple[str, str]:
    begun = await stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding=binding))
    async with httpx.AsyncClient(timeout=10) as http:
        return await authorize(http, begun.authorize_url)


@pytest.mark.asyncio
async def test_login_connects_and_hands_out_valid_tokens(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        first = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())
        assert first.state == auth_pb2.AUTH_STATE_DISCONNECTED and first.grant == auth_pb2.GRANT_KIND_WEB_APP
        begun = await auth.stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding=BINDING))
        query = parse_qs(urlsplit(begun.authorize_url).query)
        assert query["code_challenge_method"] == ["S256"] and query["state"] == [begun.state]
        assert query["redirect_uri"] == [REDIRECT_URI] and "offline_access" in query["scope"][0]
        assert len(begun.state) >= 43  # 256 random bits, base64url
        assert begun.expires_at.seconds > 0
        async with httpx.AsyncClient(timeout=10) as http:
            code, state = await authorize(http, begun.authorize_url)
            status = await auth.stub.CompleteAuthorization(complete(code, state))
            assert status.state == auth_pb2.AUTH_STATE_CONNECTED
            seeded = emulator.state.seeded()
            assert status.user_email == seeded["user"]["email"] and status.account_id == seeded["account_id"]
            token = await auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest())
            assert await me_status(http, emulator.url, token.access_token) == 200
        assert stored_record(config)["state"] == "AUTH_STATE_CONNECTED"


@pytest.mark.asyncio
async def test_a_forged_state_is_refused_and_nothing_is_stored(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        code, _ = await begin_and_authorize(auth.stub)
        await assert_refused(auth, config, complete(code, "forged-state-" + "x" * 30), "unknown")


@pytest.mark.asyncio
async def test_a_replayed_state_is_refused_and_changes_nothing(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        code, state = await begin_and_authorize(auth.stub)
        await auth.stub.CompleteAuthorization(complete(code, state))
        before = stored_record(config)
        error = await rpc_error(auth.stub.CompleteAuthorization(complete(code, state)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "already used" in error.details()
        assert stored_record(config) == before


@pytest.mark.asyncio
async def test_an_expired_state_is_refused(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, auth={"login_ttl_s": 0.3})
    async with running_auth(config) as auth:
        code, state = await begin_and_authorize(auth.stub)
        await asyncio.sleep(0.4)  # let the state's lifetime run out (not synchronisation)
        await assert_refused(auth, config, complete(code, state), "expired")


@pytest.mark.asyncio
async def test_a_state_bound_to_another_browser_is_refused_and_burnt(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        code, state = await begin_and_authorize(auth.stub, binding="victim-cookie-hash")
        await assert_refused(auth, config, complete(code, state, binding="attacker-cookie"), "another browser")
        await assert_refused(auth, config, complete(code, state, binding="victim-cookie-hash"), "already used")


@pytest.mark.asyncio
async def test_an_empty_binding_or_bad_redirect_is_refused(tmp_path, emulator):
    async with running_auth(auth_config(tmp_path, emulator.url)) as auth:
        error = await rpc_error(auth.stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding="")))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "binding" in error.details()
        error = await rpc_error(auth.stub.BeginAuthorization(
            auth_pb2.BeginAuthorizationRequest(binding=BINDING, redirect_uri="javascript:alert(1)")))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.asyncio
async def test_a_code_ims_rejects_stores_nothing(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        begun = await auth.stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding=BINDING))
        await assert_refused(auth, config, complete("not-a-code-ims-issued", begun.state), "invalid_grant")


@pytest.mark.asyncio
async def test_a_new_login_replaces_and_revokes_the_old_grant(tmp_path, emulator):
    async with running_auth(auth_config(tmp_path, emulator.url)) as auth:
        await login(auth.stub)
        old = await auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest())
        await login(auth.stub, binding="another-browser")
        new = await auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest())
        async with httpx.AsyncClient(timeout=10) as http:
            assert await me_status(http, emulator.url, new.access_token) == 200
            assert await me_status(http, emulator.url, old.access_token) == 401


@pytest.mark.asyncio
async def test_server_to_server_has_no_login(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url, frameio={"client_credentials": True, "oauth_web_app": False})
    async with running_auth(config) as auth:
        error = await rpc_error(auth.stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding=BINDING)))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_pkce_challenge_is_s256_of_the_verifier():
    # RFC 7636 appendix B
    verifier, challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert code_challenge(verifier) == challenge

