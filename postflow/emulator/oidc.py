"""Adobe IMS as an OpenID Connect provider: its discovery document, the RSA keys that sign its
ID tokens (JWKS) and the ID tokens themselves (RS256, the signing key's `kid` in the header).

As IMS does, discovery is served at `/ims/.well-known/openid-configuration`; it is also at
`/.well-known/openid-configuration`, where OIDC Discovery looks for the issuer's document. The
issuer is the emulator's base URL (IMS: `https://ims-na1.adobelogin.com`, without `/ims`), the
keys are at `/ims/keys`, as IMS's. The emulator has no userinfo endpoint.

Each emulator instance makes its own 2048-bit key the first time one is needed (not at start:
most instances never sign). `POST /_emulator/ims/keys/rotate` makes a new signing key; the
previous one stays published, so tokens it signed still verify (IMS publishes two keys too).

ID token claims: iss, sub (the user's id), aud (the client id), iat, exp (the access token's
lifetime), nonce (the authorize request's, when it had one), email, name, and `groups` (the
user's seeded `groups`, seed.py). `groups` is emulator-only: IMS has no groups claim; it lets a
relying party's role mapping be tested."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.emulator.directory import User

KEY_BITS = 2048
PUBLISHED_KEYS = 2  # the signing key and the one before it
SCOPES = ["openid", "email", "profile", "offline_access", "AdobeID", "additional_info.roles"]
CLAIMS = ["iss", "sub", "aud", "iat", "exp", "nonce", "email", "name", "groups"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict:
        public = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": b64url_uint(public.n),
                "e": b64url_uint(public.e)}

    def sign(self, claims: dict) -> str:
        """`claims` as a compact JWS, RS256."""
        def part(data: dict) -> str:
            return b64url(json.dumps(data, separators=(",", ":")).encode())

        signing_input = f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': self.kid})}.{part(claims)}"
        signature = self.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


def new_key() -> SigningKey:
    return SigningKey(f"emulator-{secrets.token_hex(4)}",
                      rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS))


class SigningKeys:
    """The instance's keys, newest first: the first signs, all are published."""

    def __init__(self) -> None:
        self._keys: list[SigningKey] = []
        self._lock = asyncio.Lock()

    async def signing(self) -> SigningKey:
        async with self._lock:
            if not self._keys:
                self._keys.append(await asyncio.to_thread(new_key))
            return self._keys[0]

    async def rotate(self) -> SigningKey:
        async with self._lock:
            self._keys = [await asyncio.to_thread(new_key), *self._keys][:PUBLISHED_KEYS]
            return self._keys[0]

    async def jwks(self) -> dict:
        await self.signing()
        return {"keys": [key.jwk() for key in self._keys]}


def issuer(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def id_token(request: Request, client_id: str, user: User, ttl_s: int, nonce: str | None) -> str:
    now = int(time.time())
    claims = {"iss": issuer(request), "sub": user.id, "aud": client_id, "iat": now, "exp": now + ttl_s,
              "email": user.email, "name": user.name, "groups": list(user.groups)}
    if nonce is not None:
        claims["nonce"] = nonce
    return (await request.app.state.emulator.signing_keys.signing()).sign(claims)


async def openid_configuration(request: Request) -> Response:
    base = issuer(request)
    return JSONResponse({
        "issuer": base,
        "authorization_endpoint": f"{base}/ims/authorize/v2",
        "token_endpoint": f"{base}/ims/token/v3",
        "revocation_endpoint": f"{base}/ims/revoke",
        "jwks_uri": f"{base}/ims/keys",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES,
        "claims_supported": CLAIMS,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    })


async def keys(request: Request) -> Response:
    return JSONResponse(await request.app.state.emulator.signing_keys.jwks())


async def rotate_keys(request: Request) -> Response:
    """A new signing key; answers the published keys."""
    signing_keys = request.app.state.emulator.signing_keys
    await signing_keys.rotate()
    return JSONResponse(await signing_keys.jwks())


def oidc_routes() -> list[Route]:
    return [
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/ims/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/ims/keys", keys, methods=["GET"]),
        Route("/_emulator/ims/keys/rotate", rotate_keys, methods=["POST"]),
    ]
