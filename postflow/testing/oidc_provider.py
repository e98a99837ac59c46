"""A tiny OpenID Connect provider for tests of the dashboard's refusals: discovery, an
authorize endpoint that signs nobody in but answers at once with a code (and the state it was
given), a token endpoint whose ID token the test shapes (`claims_for`, `signing_key`), and its
JWKS. A real provider (oidc-provider-mock) never issues a forged, expired or misaddressed
token; this one does when asked. Served by uvicorn on a free loopback port until `stop()`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from postflow.core import net
from postflow.core.asgi import AppServer

CLIENT_ID = "postflow"


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


class TokenProvider:
    def __init__(self, key: RSAKey) -> None:
        self.key = key  # published at the JWKS
        self.signing_key = key  # what signs the ID tokens: another key forges them
        self.claims_for: Callable[[dict], dict] = lambda claims: claims  # the test's changes to a good token
        self.issuer = ""
        self._nonces: dict[str, str] = {}  # code → the authorize request's nonce
        self._server: AppServer | None = None

    def good_claims(self, nonce: str, email: str = "ann@studio.example") -> dict:
        now = int(time.time())
        return {"iss": self.issuer, "sub": email.partition("@")[0], "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                "nonce": nonce, "email": email, "groups": ["post-admins"]}

    async def start(self) -> TokenProvider:
        sock = net.listen("127.0.0.1", 0)
        self.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = Starlette(routes=[Route("/.well-known/openid-configuration", self._discovery),
                                Route("/authorize", self._authorize), Route("/token", self._token, methods=["POST"]),
                                Route("/jwks", self._jwks)])
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ws="none")
        self._server = AppServer(config, sock, "the test's OpenID Connect provider")
        self._server.start()
        await self._server.started()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse({"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                             "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks"})

    async def _authorize(self, request: Request) -> Response:
        code = secrets.token_urlsafe(16)
        self._nonces[code] = request.query_params.get("nonce", "")
        query = urlencode({"code": code, "state": request.query_params.get("state", "")})
        return RedirectResponse(f"{request.query_params['redirect_uri']}?{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode())  # urlencoded (python-multipart is not installed)
        nonce = self._nonces.pop(form.get("code", [""])[0], None)
        if nonce is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        claims = self.claims_for(self.good_claims(nonce))
        header = {"alg": "RS256", "kid": self.signing_key.kid}
        return JSONResponse({"id_token": jwt.encode(header, claims, self.signing_key), "token_type": "Bearer",
                             "access_token": secrets.token_urlsafe(16)})

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})
