"""Adobe IMS as an OpenID Connect provider (oidc.py): discovery, the JWKS, RS256 ID tokens from
the authorization-code flow (nonce, PKCE, the emulator-only `groups`), verified with authlib as a
relying party would."""

import warnings

import httpx
import pytest
from authlib.common.security import generate_token

from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET, EmulatorOptions
from postflow.emulator.seed import DEFAULT_SEED, SeedSpec, UserSpec
from tests.emulator.test_ims import authorize, oauth_client

with warnings.catch_warnings():  # authlib's "use httpx2" and "use joserfc": the dashboard uses authlib's
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.starlette_client import OAuth
    from authlib.jose import JsonWebKey, JsonWebToken, KeySet
    from authlib.jose.errors import BadSignatureError
    from authlib.oidc.core import CodeIDToken

ANN = UserSpec("Ann Editor", "ann@a.test", "user-ann", groups=("postflow-admins", "editors"))
OIDC_SCOPE = "openid email profile offline_access"


@pytest.fixture
def options() -> EmulatorOptions:
    return EmulatorOptions(seed=SeedSpec(users=(ANN,), accounts=DEFAULT_SEED.accounts))


async def get_json(url: str) -> dict:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    return response.json()


async def published_keys(emulator) -> KeySet:
    discovery = await get_json(f"{emulator.url}/.well-known/openid-configuration")
    return JsonWebKey.import_key_set(await get_json(discovery["jwks_uri"]))


async def login(emulator, scope: str = OIDC_SCOPE, nonce: str | None = None) -> dict:
    """The token endpoint's answer to a PKCE authorization-code flow."""
    async with oauth_client(scope) as client:
        verifier = generate_token(64)
        extra = {} if nonce is None else {"nonce": nonce}
        response = await authorize(emulator, client, verifier, **extra)
        return await client.fetch_token(f"{emulator.url}/ims/token/v3",
                                        authorization_response=response.headers["location"], code_verifier=verifier)


def verified_claims(id_token: str, keys: KeySet, issuer: str, nonce: str | None) -> dict:
    claims = JsonWebToken(["RS256"]).decode(id_token, keys, claims_cls=CodeIDToken,
                                            claims_options={"iss": {"essential": True, "value": issuer}},
                                            claims_params={"nonce": nonce, "client_id": DEV_CLIENT_ID})
    claims.validate()
    return dict(claims)


def kid_of(id_token: str, keys: KeySet) -> str:
    return JsonWebToken(["RS256"]).decode(id_token, keys).header["kid"]


@pytest.mark.asyncio
async def test_discovery_points_at_the_ims_endpoints_at_the_standard_and_the_ims_path(emulator):
    standard = await get_json(f"{emulator.url}/.well-known/openid-configuration")
    assert await get_json(f"{emulator.url}/ims/.well-known/openid-configuration") == standard
    assert standard["issuer"] == emulator.url
    assert standard["authorization_endpoint"] == f"{emulator.url}/ims/authorize/v2"
    assert standard["token_endpoint"] == f"{emulator.url}/ims/token/v3"
    assert standard["jwks_uri"] == f"{emulator.url}/ims/keys"
    assert standard["revocation_endpoint"] == f"{emulator.url}/ims/revoke"
    assert standard["id_token_signing_alg_values_supported"] == ["RS256"]
    assert standard["code_challenge_methods_supported"] == ["S256"]
    assert standard["response_types_supported"] == ["code"]
    assert {"openid", "email", "profile"} <= set(standard["scopes_supported"])
    assert {"sub", "email", "name", "nonce", "groups"} <= set(standard["claims_supported"])


@pytest.mark.asyncio
async def test_the_jwks_publishes_one_2048_bit_rsa_signing_key(emulator):
    jwks = await get_json(f"{emulator.url}/ims/keys")
    [key] = jwks["keys"]
    assert {key["kty"], key["alg"], key["use"], key["e"]} == {"RSA", "RS256", "sig", "AQAB"} and key["kid"]
    assert JsonWebKey.import_key(key).get_public_key().key_size == 2048
    assert await get_json(f"{emulator.url}/ims/keys") == jwks, "the key is the instance's, not one per call"


@pytest.mark.asyncio
async def test_an_openid_login_gives_an_id_token_that_verifies_against_the_jwks(emulator):
    nonce = generate_token(20)
    token = await login(emulator, nonce=nonce)
    keys = await published_keys(emulator)
    claims = verified_claims(token["id_token"], keys, emulator.url, nonce)
    assert kid_of(token["id_token"], keys) == keys.keys[0].kid
    assert claims["sub"] == "user-ann" and claims["aud"] == DEV_CLIENT_ID
    assert (claims["email"], claims["name"]) == (ANN.email, ANN.name)
    assert claims["groups"] == ["postflow-admins", "editors"]
    assert claims["exp"] - claims["iat"] == token["expires_in"]
    with pytest.raises(Exception, match="nonce"):
        verified_claims(token["id_token"], keys, emulator.url, "another-nonce")
    assert "nonce" not in verified_claims((await login(emulator))["id_token"], keys, emulator.url, None)


@pytest.mark.asyncio
async def test_authlibs_openid_client_takes_the_emulator_as_a_ready_made_provider(emulator):
    """The relying party's path: IMS's discovery URL, then authlib parses and checks the ID token."""
    oauth = OAuth()
    oauth.register("adobe", client_id=DEV_CLIENT_ID, client_secret=DEV_CLIENT_SECRET,
                   server_metadata_url=f"{emulator.url}/ims/.well-known/openid-configuration")
    nonce = generate_token(20)
    token = await login(emulator, nonce=nonce)
    userinfo = await oauth.adobe.parse_id_token(token, nonce)
    assert (userinfo["email"], userinfo["groups"]) == (ANN.email, ["postflow-admins", "editors"])


@pytest.mark.asyncio
async def test_without_the_openid_scope_there_is_no_id_token(emulator):
    token = await login(emulator, scope="email profile offline_access")
    assert "id_token" not in token and token["access_token"] and token["refresh_token"]


@pytest.mark.asyncio
async def test_a_token_signed_by_another_key_fails_verification(emulator):
    token = await login(emulator)
    keys = await published_keys(emulator)
    claims = verified_claims(token["id_token"], keys, emulator.url, None)
    kid = kid_of(token["id_token"], keys)
    impostor = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": kid})
    forged = JsonWebToken(["RS256"]).encode({"alg": "RS256", "kid": kid}, claims, impostor).decode()
    with pytest.raises(BadSignatureError):
        verified_claims(forged, keys, emulator.url, None)


@pytest.mark.asyncio
async def test_a_rotated_key_signs_new_tokens_and_the_old_one_stays_published(emulator):
    before = await login(emulator)
    old_kid = kid_of(before["id_token"], await published_keys(emulator))
    async with httpx.AsyncClient() as http:
        rotated = await http.post(f"{emulator.url}/_emulator/ims/keys/rotate")
    assert rotated.status_code == 200 and len(rotated.json()["keys"]) == 2
    after = await login(emulator)
    keys = await published_keys(emulator)
    assert [key.kid for key in keys.keys][1] == old_kid
    assert kid_of(after["id_token"], keys) == keys.keys[0].kid != old_kid
    verified_claims(before["id_token"], keys, emulator.url, None)
