"""IMS as strict as Adobe documents it: refresh tokens that die a fixed time after the login
(rotation does not extend them), `invalid_token` for an expired one (as the SDK's auth module
expects), https-only redirect URIs unless loopback http is allowed explicitly, and revoke with
HTTP Basic client authentication only for web-app tokens."""

import httpx
import pytest
from authlib.common.security import generate_token
from frameio.auth import TokenExpiredError
from frameio.auth._http import revoke_request_async, token_request_async
from frameio.errors import UnauthorizedError

from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET, EmulatorOptions
from postflow.emulator.tokens import s256
from postflow.testing.emulator import client_credentials_token, issued_tokens, set_faults
from postflow.testing.frameio_sdk import USER_SCOPE
from postflow.testing.polling import wait_for
from tests.emulator.test_ims import OAuthError, me, oauth_client, token_states, user_tokens


def refresh_tokens(emulator) -> dict[str, dict]:
    return {t["value"]: t for t in emulator.state.tokens.describe() if t["kind"] == "refresh"}


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(refresh_token_ttl_s=3600)])
async def test_refresh_tokens_keep_the_logins_deadline_however_often_they_rotate(emulator):
    async with oauth_client() as client:
        first = await user_tokens(emulator, client)
        second = await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=first["refresh_token"])
        third = await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=second["refresh_token"])
    issued = refresh_tokens(emulator)
    login = issued[first["refresh_token"]]
    assert login["expires_at"] - login["issued_at"] == pytest.approx(3600, abs=0.01)
    for later in (second, third):
        token = issued[later["refresh_token"]]
        assert token["issued_at"] > login["issued_at"] and token["expires_at"] == login["expires_at"], \
            "refreshing never extends the grant"


@pytest.mark.asyncio
async def test_the_default_refresh_token_life_is_14_days_from_the_login(emulator):
    async with oauth_client() as client:
        first = await user_tokens(emulator, client)
        second = await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=first["refresh_token"])
    issued = refresh_tokens(emulator)
    login = issued[first["refresh_token"]]
    assert login["expires_at"] - login["issued_at"] == pytest.approx(14 * 86400, abs=0.01)
    assert issued[second["refresh_token"]]["expires_at"] == login["expires_at"]


@pytest.mark.asyncio
async def test_refresh_token_ttl_fault_applies_to_tokens_issued_after_it_from_the_login(emulator):
    async with oauth_client() as client:
        first = await user_tokens(emulator, client)
        await set_faults(emulator.url, {"refresh_token_ttl": 3600})
        second = await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=first["refresh_token"])
    issued = refresh_tokens(emulator)
    login = issued[first["refresh_token"]]
    assert login["expires_at"] - login["issued_at"] == pytest.approx(14 * 86400, abs=0.01), "issued before the fault"
    assert issued[second["refresh_token"]]["expires_at"] == pytest.approx(login["issued_at"] + 3600, abs=0.01)


async def refresh_with_the_sdk(emulator, refresh_token: str) -> dict:
    async with httpx.AsyncClient() as http:
        return await token_request_async({"grant_type": "refresh_token", "refresh_token": refresh_token,
                                          "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET},
                                         client=http, token_url=f"{emulator.url}/ims/token/v3", max_retries=0)


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [None, "invalid_token", "invalid_grant"])
async def test_an_expired_refresh_token_is_answered_invalid_token_unless_the_fault_says_invalid_grant(emulator,
                                                                                                      code):
    await set_faults(emulator.url, {"refresh_token_ttl": 2, "expired_refresh_error": code})
    async with oauth_client() as client:
        first = await user_tokens(emulator, client)
        second = await refresh_with_the_sdk(emulator, first["refresh_token"])
        await wait_for(lambda: token_states(emulator)[second["refresh_token"]] == "expired", timeout=5,
                       interval=0.05, message="the grant's refresh token to expire")
        with pytest.raises(OAuthError) as expired:
            await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=second["refresh_token"])
    assert expired.value.error == (code or "invalid_token") and "expired" in expired.value.description
    with pytest.raises(TokenExpiredError, match=code or "invalid_token"):
        await refresh_with_the_sdk(emulator, second["refresh_token"])


@pytest.mark.asyncio
async def test_revoked_rotated_and_unknown_refresh_tokens_are_invalid_grant(emulator):
    async with oauth_client() as client:
        first = await user_tokens(emulator, client)
        second = await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=first["refresh_token"])
        await client.revoke_token(f"{emulator.url}/ims/revoke", token=second["refresh_token"])
        for dead in (first["refresh_token"], second["refresh_token"], "unknown"):
            with pytest.raises(OAuthError) as refused:
                await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=dead)
            assert refused.value.error == "invalid_grant" and "expired" not in refused.value.description


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(allow_http_loopback_redirect=True)])
async def test_http_redirects_on_loopback_only_when_the_emulator_allows_them(emulator):
    base = f"{emulator.url}/ims/authorize/v2"
    common = {"response_type": "code", "scope": USER_SCOPE, "client_id": DEV_CLIENT_ID,
              "code_challenge": s256(generate_token(64)), "code_challenge_method": "S256"}
    async with httpx.AsyncClient() as browser:
        for uri in ("http://127.0.0.1:8000/auth/callback", "http://localhost:1/cb", "http://[::1]:1/cb",
                    "https://example.com/cb"):
            approved = await browser.get(base, params={**common, "redirect_uri": uri})
            assert approved.status_code == 302 and "code=" in approved.headers["location"], uri
        remote = await browser.get(base, params={**common, "redirect_uri": "http://example.com/cb"})
    assert remote.status_code == 400 and remote.json()["error"] == "invalid_request"


@pytest.mark.asyncio
async def test_web_app_tokens_are_revoked_only_with_http_basic(emulator):
    async with oauth_client() as client:
        tokens = await user_tokens(emulator, client)
    async with httpx.AsyncClient() as http:
        in_body = await http.post(f"{emulator.url}/ims/revoke", data={
            "token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": DEV_CLIENT_ID,
            "client_secret": DEV_CLIENT_SECRET})
        assert in_body.status_code == 401 and in_body.json()["error"] == "invalid_client"
        assert in_body.headers["www-authenticate"] == 'Basic realm="ims"'
        assert token_states(emulator)[tokens["refresh_token"]] == "active", "body credentials revoke nothing"

        basic = await http.post(f"{emulator.url}/ims/revoke", auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET),
                                data={"token": tokens["access_token"], "token_type_hint": "access_token"})
        assert basic.status_code == 200 and basic.content == b""
        await revoke_request_async(tokens["refresh_token"], DEV_CLIENT_ID, DEV_CLIENT_SECRET, client=http,
                                   revoke_url=f"{emulator.url}/ims/revoke")
    states = token_states(emulator)
    assert states[tokens["access_token"]] == states[tokens["refresh_token"]] == "revoked", "the SDK revokes by Basic"
    with pytest.raises(UnauthorizedError):
        await me(emulator, tokens["access_token"])


@pytest.mark.asyncio
async def test_server_to_server_tokens_may_still_be_revoked_with_body_credentials(emulator):
    token = await client_credentials_token(emulator.url)
    async with httpx.AsyncClient() as http:
        revoked = await http.post(f"{emulator.url}/ims/revoke", data={
            "token": token, "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET})
    assert revoked.status_code == 200
    assert {t["value"]: t["state"] for t in await issued_tokens(emulator.url)}[token] == "revoked"
