"""Adobe IMS as the emulator plays it, driven by authlib's httpx OAuth 2.0 client (the web
app flow with PKCE, refresh with rotation, revocation, client credentials) and by the
official SDK's own IMS helpers."""

import base64
import json
import warnings
from urllib.parse import parse_qs, urlsplit

import authlib.deprecate  # noqa: F401  (first: importing it turns its warnings on for good)
import httpx
import pytest
from authlib.common.security import generate_token
from frameio import AsyncFrameio
from frameio.auth import AsyncServerToServerAuth
from frameio.errors import UnauthorizedError
from frameio.types import ProfileResponse

from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET, EmulatorOptions
from postflow.emulator.tokens import s256
from postflow.testing.frameio_sdk import NO_RETRIES, USER_SCOPE
from postflow.testing.polling import wait_for

with warnings.catch_warnings():  # authlib's "use httpx2": httpx is what PostFlow pins
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

REDIRECT_URI = "https://127.0.0.1:8000/auth/callback"


def oauth_client(scope: str = USER_SCOPE) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id=DEV_CLIENT_ID, client_secret=DEV_CLIENT_SECRET, scope=scope,
                             redirect_uri=REDIRECT_URI, code_challenge_method="S256")


async def authorize(emulator, client: AsyncOAuth2Client, verifier: str | None, **extra) -> httpx.Response:
    """What a browser does with the authorize URL: one GET, no redirect followed."""
    url, _ = client.create_authorization_url(f"{emulator.url}/ims/authorize/v2", code_verifier=verifier, **extra)
    async with httpx.AsyncClient() as browser:
        return await browser.get(url)


async def user_tokens(emulator, client: AsyncOAuth2Client) -> dict:
    verifier = generate_token(64)
    response = await authorize(emulator, client, verifier)
    return await client.fetch_token(f"{emulator.url}/ims/token/v3", authorization_response=response.headers["location"],
                                    code_verifier=verifier)


async def me(emulator, access_token: str) -> ProfileResponse:
    async with httpx.AsyncClient() as http:
        sdk = AsyncFrameio(base_url=emulator.url, token=access_token, httpx_client=http)
        return await sdk.users.show(request_options=NO_RETRIES)


def token_states(emulator) -> dict[str, str]:
    return {t["value"]: t["state"] for t in emulator.state.tokens.describe()}


@pytest.mark.asyncio
async def test_web_app_flow_with_pkce_issues_working_tokens(emulator):
    async with oauth_client() as client:
        verifier = generate_token(64)
        response = await authorize(emulator, client, verifier, state="csrf-123")
        assert response.status_code == 302
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
        assert parse_qs(location.query)["state"] == ["csrf-123"]
        token = await client.fetch_token(f"{emulator.url}/ims/token/v3",
                                         authorization_response=response.headers["location"], code_verifier=verifier)
    assert token["token_type"] == "bearer" and token["expires_in"] == 86399
    assert token["refresh_token"] and token["access_token"] != token["refresh_token"]
    header, claims, _ = token["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert claims["aud"] == DEV_CLIENT_ID and claims["sub"] == emulator.state.store.seed.user.id
    profile = await me(emulator, token["access_token"])
    assert profile.data.email == emulator.state.store.seed.user.email


@pytest.mark.asyncio
async def test_refresh_tokens_come_only_with_offline_access(emulator):
    async with oauth_client(scope="openid email profile") as client:
        tokens = await user_tokens(emulator, client)
    assert "refresh_token" not in tokens and tokens["access_token"] and tokens["id_token"]


@pytest.mark.asyncio
async def test_refresh_rotates_and_the_used_refresh_token_dies(emulator):
    token_url = f"{emulator.url}/ims/token/v3"
    async with oauth_client() as client:
        first = await user_tokens(emulator, client)
        second = await client.refresh_token(token_url, refresh_token=first["refresh_token"])
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        with pytest.raises(OAuthError) as reused:
            await client.refresh_token(token_url, refresh_token=first["refresh_token"])
        assert reused.value.error == "invalid_grant"
        third = await client.refresh_token(token_url, refresh_token=second["refresh_token"])
    states = token_states(emulator)
    assert states[first["refresh_token"]] == states[second["refresh_token"]] == "rotated"
    assert states[third["refresh_token"]] == "active"
    assert (await me(emulator, third["access_token"])).data.id


@pytest.mark.asyncio
async def test_refresh_reuse_is_accepted_when_the_fault_turns_rejection_off(emulator, http):
    token_url = f"{emulator.url}/ims/token/v3"
    (await http.post(f"{emulator.url}/_emulator/faults", json={"reject_refresh_token_reuse": False})).raise_for_status()
    async with oauth_client() as client:
        first = await user_tokens(emulator, client)
        await client.refresh_token(token_url, refresh_token=first["refresh_token"])
        again = await client.refresh_token(token_url, refresh_token=first["refresh_token"])
        assert again["access_token"]
        (await http.delete(f"{emulator.url}/_emulator/faults")).raise_for_status()
        with pytest.raises(OAuthError, match="invalid_grant"):
            await client.refresh_token(token_url, refresh_token=first["refresh_token"])


@pytest.mark.asyncio
async def test_authorization_code_is_single_use_and_bound_to_redirect_uri_and_verifier(emulator):
    token_url = f"{emulator.url}/ims/token/v3"
    async with oauth_client() as client:
        verifier = generate_token(64)
        location = (await authorize(emulator, client, verifier)).headers["location"]
        with pytest.raises(OAuthError, match="invalid_grant") as wrong_verifier:
            await client.fetch_token(token_url, authorization_response=location, code_verifier=generate_token(64))
        assert "code_verifier" in wrong_verifier.value.description

        location = (await authorize(emulator, client, verifier)).headers["location"]
        with pytest.raises(OAuthError, match="invalid_grant"):
            await client.fetch_token(token_url, authorization_response=location, code_verifier=verifier,
                                     redirect_uri="http://127.0.0.1:9999/elsewhere")

        location = (await authorize(emulator, client, verifier)).headers["location"]
        assert await client.fetch_token(token_url, authorization_response=location, code_verifier=verifier)
        with pytest.raises(OAuthError, match="invalid_grant") as reused:
            await client.fetch_token(token_url, authorization_response=location, code_verifier=verifier)
        assert "already used" in reused.value.description


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [EmulatorOptions(auth_code_ttl_s=0)])
async def test_an_expired_authorization_code_is_refused(emulator):
    async with oauth_client() as client:
        verifier = generate_token(64)
        location = (await authorize(emulator, client, verifier)).headers["location"]
        with pytest.raises(OAuthError, match="invalid_grant") as expired:
            await client.fetch_token(f"{emulator.url}/ims/token/v3", authorization_response=location,
                                     code_verifier=verifier)
    assert "expired" in expired.value.description


@pytest.mark.asyncio
async def test_authorize_rejects_unknown_clients_and_unsafe_redirects(emulator):
    base = f"{emulator.url}/ims/authorize/v2"
    challenge = s256(generate_token(64))
    common = {"response_type": "code", "scope": USER_SCOPE, "state": "s", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    async with httpx.AsyncClient() as browser:
        unknown = await browser.get(base, params={**common, "client_id": "nope", "redirect_uri": REDIRECT_URI})
        assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client"
        for uri in ("http://example.com/cb", "http://127.0.0.1:1/cb", "http://localhost:1/cb", "ftp://127.0.0.1/cb",
                    "not a url"):
            refused = await browser.get(base, params={**common, "client_id": DEV_CLIENT_ID, "redirect_uri": uri})
            assert refused.status_code == 400 and "must be https" in refused.json()["error_description"], uri
        for uri in ("https://example.com/cb", "https://localhost:8000/auth/callback"):
            approved = await browser.get(base, params={**common, "client_id": DEV_CLIENT_ID, "redirect_uri": uri})
            assert approved.status_code == 302 and "code=" in approved.headers["location"], uri
        plain = await browser.get(base, params={**common, "client_id": DEV_CLIENT_ID, "redirect_uri": REDIRECT_URI,
                                                "code_challenge_method": "plain"})
        error = parse_qs(urlsplit(plain.headers["location"]).query)
        assert error["error"] == ["invalid_request"] and error["state"] == ["s"]


@pytest.mark.asyncio
async def test_client_authentication_by_basic_or_body_and_bad_secrets_refused(emulator):
    url = f"{emulator.url}/ims/token/v3"
    form = {"grant_type": "client_credentials", "scope": "openid AdobeID frame.s2s.all"}
    async with httpx.AsyncClient() as http:
        basic = await http.post(url, data=form, auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET))
        body = await http.post(url, data={**form, "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET})
        wrong = await http.post(url, data=form, auth=(DEV_CLIENT_ID, "wrong"))
        wrong_revoke = await http.post(f"{emulator.url}/ims/revoke", data={"token": "x"}, auth=(DEV_CLIENT_ID, "wrong"))
        bogus_grant = await http.post(url, data={"grant_type": "password"}, auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET))
    for ok in (basic, body):
        assert ok.status_code == 200
        assert set(ok.json()) == {"access_token", "token_type", "expires_in", "id_token"}, "no refresh token for s2s"
    for refused in (wrong, wrong_revoke):
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert refused.headers["www-authenticate"] == 'Basic realm="ims"'
    assert bogus_grant.status_code == 400 and bogus_grant.json()["error"] == "unsupported_grant_type"


@pytest.mark.asyncio
async def test_the_sdks_server_to_server_auth_works_against_the_emulator(emulator):
    async with httpx.AsyncClient() as http:
        auth = AsyncServerToServerAuth(client_id=DEV_CLIENT_ID, client_secret=DEV_CLIENT_SECRET,
                                       ims_base_url=emulator.url, http_client=http)
        sdk = AsyncFrameio(base_url=emulator.url, token=lambda: "", async_token=auth.get_token, httpx_client=http)
        assert (await sdk.users.show()).data.name == emulator.state.store.seed.user.name


@pytest.mark.asyncio
async def test_revoking_a_refresh_token_ends_its_grant(emulator):
    async with oauth_client() as client:
        tokens = await user_tokens(emulator, client)
        await client.revoke_token(f"{emulator.url}/ims/revoke", token=tokens["refresh_token"],
                                  token_type_hint="refresh_token")
        with pytest.raises(OAuthError, match="invalid_grant"):
            await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=tokens["refresh_token"])
    with pytest.raises(UnauthorizedError) as refused:
        await me(emulator, tokens["access_token"])
    assert refused.value.body.errors[0].detail == "The access token is revoked"
    assert token_states(emulator)[tokens["access_token"]] == "revoked"


@pytest.mark.asyncio
async def test_revoking_an_access_token_leaves_the_refresh_token_usable(emulator):
    async with oauth_client() as client:
        tokens = await user_tokens(emulator, client)
        await client.revoke_token(f"{emulator.url}/ims/revoke", token=tokens["access_token"])
        with pytest.raises(UnauthorizedError):
            await me(emulator, tokens["access_token"])
        fresh = await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=tokens["refresh_token"])
    assert (await me(emulator, fresh["access_token"])).data.id


@pytest.mark.asyncio
async def test_short_token_lifetime_fault_makes_tokens_expire(emulator, http):
    (await http.post(f"{emulator.url}/_emulator/faults", json={"access_token_ttl": 1})).raise_for_status()
    async with oauth_client() as client:
        tokens = await user_tokens(emulator, client)
        assert tokens["expires_in"] == 1
        assert (await me(emulator, tokens["access_token"])).data.id

        async def rejected() -> bool:
            try:
                await me(emulator, tokens["access_token"])
            except UnauthorizedError as exc:
                return exc.body.errors[0].detail == "The access token is expired"
            return False

        await wait_for(rejected, timeout=5, interval=0.1, message="the access token to expire")
        assert token_states(emulator)[tokens["access_token"]] == "expired"
        assert token_states(emulator)[tokens["refresh_token"]] == "active"


@pytest.mark.asyncio
async def test_expire_access_tokens_action_ends_live_tokens_now(emulator, http, token):
    assert (await me(emulator, token)).data.id
    (await http.post(f"{emulator.url}/_emulator/faults", json={"expire_access_tokens": True})).raise_for_status()
    with pytest.raises(UnauthorizedError):
        await me(emulator, token)


@pytest.mark.asyncio
async def test_tokens_listing_shows_every_token_with_its_state(emulator, http):
    async with oauth_client() as client:
        tokens = await user_tokens(emulator, client)
        await client.refresh_token(f"{emulator.url}/ims/token/v3", refresh_token=tokens["refresh_token"])
    listed = (await http.get(f"{emulator.url}/_emulator/tokens")).json()["tokens"]
    by_value = {t["value"]: t for t in listed}
    assert by_value[tokens["refresh_token"]]["state"] == "rotated"
    assert by_value[tokens["access_token"]]["kind"] == "access"
    assert sorted(t["state"] for t in listed) == ["active", "active", "active", "rotated"]
