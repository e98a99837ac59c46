"""Sign-in with the facility's OpenID Connect provider (`dashboard.oidc`): authorization code
with PKCE (S256), state and nonce bound to the browser by a cookie naming a server-side pending
sign-in (used once), the ID token's signature checked against the provider's JWKS and its iss,
aud, exp and nonce claims. Then a server-side session (oidc_sessions) with the person's role.
Every refusal is a readable page and an audit line; a provider that is down is a page too, and
people already signed in keep working (their sessions are checked here, not at the provider)."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from dataclasses import dataclass

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from postflow.core.mesh.audit import AuditEntry, AuditSink
from postflow.core.oidc_config import OidcConfig
from postflow.core.pkce import code_challenge
from services.dashboard.oidc_sessions import SessionStore
from services.dashboard.pages import problem_page

log = logging.getLogger(__name__)

OIDC_SESSION_COOKIE = "postflow_person"
PENDING_COOKIE = "postflow_oidc"
PENDING_TTL_S = 600
CALLBACK_PATH = "/auth/oidc/callback"
PROVIDER_TIMEOUT_S = 5.0
ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]


@dataclass(frozen=True)
class Pending:
    state: str
    nonce: str
    verifier: str
    expires: float


class SignInRefused(Exception):
    """The sign-in cannot go on: `title` and `detail` are shown to the person."""

    def __init__(self, status_code: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code, self.title, self.detail = status_code, title, detail


class NotPublished(SignInRefused):
    """No discovery document where one was looked for (HTTP 404): the next place may have it."""


class OidcSignIn:
    def __init__(self, config: OidcConfig, sessions: SessionStore, audit: AuditSink,
                 http: httpx.AsyncClient) -> None:
        self.config = config
        self.sessions = sessions
        self.audit = audit
        self.http = http
        self._metadata: dict | None = None
        self._pending: dict[str, Pending] = {}

    async def metadata(self) -> dict:
        """The provider's discovery document, from the first of its places that has one."""
        if self._metadata is None:
            *earlier, last = self.config.discovery_urls
            for url in earlier:
                with contextlib.suppress(NotPublished):
                    self._metadata = await self._get_json(url)
                    return self._metadata
            self._metadata = await self._get_json(last)
        return self._metadata

    async def _get_json(self, url: str) -> dict:
        try:
            response = await self.http.get(url, timeout=PROVIDER_TIMEOUT_S)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as error:
            if error.response.status_code != 404:
                raise self._unreachable(error) from error
            raise NotPublished(404, "The identity provider publishes no OpenID Connect configuration",
                               f"{url} is not found (HTTP 404): is dashboard.oidc.issuer the issuer URL?") from error
        except (httpx.HTTPError, ValueError) as error:
            raise self._unreachable(error) from error

    def _unreachable(self, error: Exception) -> SignInRefused:
        log.warning("identity provider %s: %s", self.config.issuer, error)
        return SignInRefused(503, "The identity provider cannot be reached",
                             f"{self.config.issuer} did not answer ({type(error).__name__}); try again in a "
                             "moment. People already signed in keep working.")

    async def start(self, request: Request) -> Response:
        """The redirect to the provider's authorization endpoint, with a new pending sign-in.
        The discovery document is read afresh, so a provider that went down gives our page
        rather than a browser error at its address."""
        self._metadata = None
        try:
            endpoint = (await self.metadata())["authorization_endpoint"]
        except SignInRefused as refused:
            return problem_page(refused.status_code, refused.title, refused.detail)
        now = time.time()
        self._pending = {key: p for key, p in self._pending.items() if p.expires > now}
        pending = Pending(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48),
                          now + PENDING_TTL_S)
        browser = secrets.token_urlsafe(24)
        self._pending[browser] = pending
        query = httpx.QueryParams({
            "response_type": "code", "client_id": self.config.client_id, "redirect_uri": callback_url(request),
            "scope": " ".join(self.config.scopes), "state": pending.state, "nonce": pending.nonce,
            "code_challenge": code_challenge(pending.verifier), "code_challenge_method": "S256"})
        response = RedirectResponse(f"{endpoint}?{query}", status_code=302)
        response.set_cookie(PENDING_COOKIE, browser, max_age=PENDING_TTL_S, path="/auth/oidc", httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
        return response

    async def callback(self, request: Request) -> Response:
        try:
            response = await self._sign_in(request)
        except SignInRefused as refused:
            self.record(request, "anonymous", "sign-in", refused.detail, "denied")
            response = problem_page(refused.status_code, refused.title, refused.detail)
        response.delete_cookie(PENDING_COOKIE, path="/auth/oidc")
        return response

    async def _sign_in(self, request: Request) -> Response:
        pending = self._pending.pop(request.cookies.get(PENDING_COOKIE, ""), None)
        if pending is None or pending.expires <= time.time():
            raise SignInRefused(400, "Sign-in not started here", "This browser has no sign-in under way (it "
                                "expired or was already used): open the dashboard again to sign in.")
        params = request.query_params
        if not secrets.compare_digest(params.get("state", ""), pending.state):
            raise SignInRefused(400, "Sign-in refused", "state mismatch: the answer from the identity provider "
                                "is not for the sign-in this browser started.")
        if "error" in params:
            raise SignInRefused(403, "Sign-in refused", f"the identity provider said: {params['error']} "
                                f"{params.get('error_description', '')}".strip())
        claims = await self._id_token_claims(request, params.get("code", ""), pending)
        email, name = str(claims.get("email", "")), str(claims.get("name") or claims.get("email") or claims["sub"])
        claimed = claims.get(self.config.roles_claim) or []
        groups = [str(group) for group in claimed] if isinstance(claimed, list) else []
        role = self.config.role_of(email, groups)
        if role is None:
            self.record(request, email or str(claims["sub"]), "sign-in", "no role for this person", "denied")
            return problem_page(403, "Ask an admin for access", f"You are signed in at the identity provider as "
                                f"{email or name}, but no role on this dashboard is given to you. Ask a PostFlow "
                                "admin to add you (or one of your groups) to a role.")
        pipelines = self.config.pipelines_of(email, groups)
        session_id = await self.sessions.create(email, name, role, pipelines)
        self.record(request, email, "sign-in", f"as {role}" + (f" for {', '.join(pipelines)}" if pipelines else ""),
                    "ok")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(OIDC_SESSION_COOKIE, session_id, max_age=int(self.sessions.ttl_s), httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
        return response

    async def _id_token_claims(self, request: Request, code: str, pending: Pending) -> dict:
        metadata = await self.metadata()
        try:
            answer = await self.http.post(metadata["token_endpoint"], timeout=PROVIDER_TIMEOUT_S, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": callback_url(request),
                "code_verifier": pending.verifier}, auth=(self.config.client_id, self.config.client_secret))
            id_token = answer.json().get("id_token") if answer.is_success else None
        except (httpx.HTTPError, ValueError) as error:
            raise self._unreachable(error) from error
        if not id_token:
            raise SignInRefused(403, "Sign-in refused", f"the identity provider gave no ID token (HTTP "
                                f"{answer.status_code}): the code may be used already or expired.")
        keys = await self._get_json(metadata["jwks_uri"])
        expected = jwt.JWTClaimsRegistry(
            leeway=60, iss={"essential": True, "value": self.config.issuer.rstrip("/")},
            aud={"essential": True, "value": self.config.client_id}, exp={"essential": True},
            nonce={"essential": True, "value": pending.nonce}, sub={"essential": True})
        try:
            token = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=ID_TOKEN_ALGORITHMS)  # type: ignore[arg-type]
            expected.validate(token.claims)
        except (JoseError, ValueError) as error:
            raise SignInRefused(403, "Sign-in refused", f"the ID token is not valid: {error}") from error
        return dict(token.claims)

    async def logout(self, request: Request) -> Response:
        session_id = request.cookies.get(OIDC_SESSION_COOKIE, "")
        person = self.sessions.get(session_id)
        await self.sessions.end(session_id)
        if person is not None:
            self.record(request, person.email, "sign-out", "", "ok")
        response = problem_page(200, "Signed out", "You are signed out of the PostFlow dashboard.")
        response.delete_cookie(OIDC_SESSION_COOKIE, httponly=True, samesite="lax")
        return response

    def record(self, request: Request, who: str, action: str, what: str, outcome: str) -> None:
        """An audit line; `who` is the person once the provider vouched for them, else "anonymous"."""
        self.audit.record(AuditEntry(at=time.time(), who=who, action=action, what=what, outcome=outcome,
                                     service="dashboard", peer=request.client.host if request.client else ""))

    def routes(self) -> list[Route]:
        return [Route("/auth/oidc/login", self.start), Route(CALLBACK_PATH, self.callback),
                Route("/auth/oidc/logout", self.logout, methods=["GET", "POST"])]


def callback_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + CALLBACK_PATH
