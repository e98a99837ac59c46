"""Who may use the dashboard, and the checks every request passes.

- With `dashboard.access_token` set (required off loopback), everything but the page shells
  (`/`, `/analytics`), their static files, the web app manifest, `/livez`, `/readyz` and the
  login call needs a session cookie (from the login form) or `Authorization: Bearer <token>`.
  The session cookie is an HMAC keyed by the access token, so it survives dashboard restarts
  and dies when the token changes.
- Without one (loopback only), the dashboard answers only to loopback host names, so a web
  page cannot reach it through DNS rebinding.
- Unsafe methods need a CSRF token: the `postflow_csrf` cookie echoed in `X-CSRF-Token`
  (double submit). A request that carries the bearer token is exempt (a browser cannot
  forge that header cross-site).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postflow.core.mesh.guard import ACTOR_METADATA
from postflow.core.net import is_loopback
from postflow.core.oidc_config import ROLES, Role
from services.dashboard.http_errors import json_error
from services.dashboard.oidc_routes import OIDC_SESSION_COOKIE, OidcSignIn
from services.dashboard.oidc_sessions import Person

SESSION_COOKIE = "postflow_session"
CSRF_COOKIE = "postflow_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 30 * 24 * 3600
PUBLIC_PATHS = {"/", "/analytics", "/manifest.webmanifest", "/livez", "/readyz", "/api/login", "/favicon.ico",
                "/auth/oidc/login", "/auth/oidc/callback", "/auth/oidc/logout"}
PAGES = {"/", "/analytics"}  # with dashboard.oidc, these send a browser without a session to the provider
OPERATOR_ACTIONS = ("/retry", "/cancel", "/api/submit")  # unsafe requests an operator may make; the rest: admin
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class Access:
    """Who a request is: with `dashboard.oidc`, a person's session gives their role and the
    access token (bearer) is an admin for scripts; without it, whoever passes is an admin."""

    def __init__(self, token: str | None, signin: OidcSignIn | None = None) -> None:
        self.token = token or None
        self.signin = signin

    @property
    def required(self) -> bool:
        return self.token is not None or self.signin is not None

    def role(self, request: Request) -> Role | None:
        if self.bearer_ok(request):
            return "admin"
        if self.signin is not None:
            person = self.person(request)
            return person.role if person is not None else None
        return "admin" if not self.required or self.session_ok(request) else None

    def person(self, request: Request) -> Person | None:
        """Who is signed in with OpenID Connect in `request`'s browser (None: nobody, or no dashboard.oidc)."""
        if self.signin is None:
            return None
        return self.signin.sessions.get(request.cookies.get(OIDC_SESSION_COOKIE, ""))

    def pipelines(self, request: Request) -> tuple[str, ...] | None:
        """The only pipelines `request`'s person may see (dashboard.oidc.pipelines); None: every one."""
        person = None if self.bearer_ok(request) else self.person(request)
        return person.pipelines if person is not None else None

    def actor_metadata(self, request: Request) -> tuple[tuple[str, str], ...]:
        """The gRPC metadata naming the person a job action is done for (none for a script)."""
        person = self.person(request)
        return ((ACTOR_METADATA, person.email),) if person is not None and person.email else ()

    def bearer_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(value.strip())

    def session_ok(self, request: Request) -> bool:
        if self.token is None:
            return False
        version, _, rest = request.cookies.get(SESSION_COOKIE, "").partition(".")
        expires, _, signature = rest.partition(".")
        if version != "v1" or not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(signature, self._sign(expires))

    def allowed(self, request: Request) -> bool:
        return self.role(request) is not None

    def is_admin(self, request: Request) -> bool:
        """May see what only admins see (the audit log, the delivery log)."""
        return self.role(request) == "admin"

    def token_ok(self, candidate: str) -> bool:
        return self.token is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    def set_session(self, response: Response, secure: bool) -> None:
        expires = str(int(time.time()) + SESSION_TTL_S)
        response.set_cookie(SESSION_COOKIE, f"v1.{expires}.{self._sign(expires)}", max_age=SESSION_TTL_S,
                            httponly=True, samesite="lax", secure=secure)

    def _sign(self, expires: str) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), f"postflow-session.v1.{expires}".encode(), hashlib.sha256).hexdigest()


def required_role(method: str, path: str) -> Role:
    """The least role a request needs: seeing is for viewers; retry, cancel and submit for
    operators; everything else that changes something (connections, pipelines' reload, keys,
    webhook replays) and starting a Frame.io connection (`/auth/…`) for admins."""
    if path.startswith("/auth/"):
        return "admin"
    if method in SAFE_METHODS:
        return "viewer"
    return "operator" if path.endswith(OPERATOR_ACTIONS) else "admin"


def csrf_ok(request: Request) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), header.encode())


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


class Guard:
    """ASGI middleware: host check, authentication, CSRF, security headers and the CSRF
    cookie. Pure ASGI (not BaseHTTPMiddleware) so SSE streams pass straight through."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = await self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, self._decorate(request, send))

    async def _refusal(self, request: Request) -> Response | None:
        path = request.url.path
        if not self.access.required and not is_loopback(request.url.hostname or ""):
            return json_error("this dashboard has no access token, so it only answers on localhost", 403)
        role = self.access.role(request)
        if self.access.signin is not None and role is None and path in PAGES:
            return await self.access.signin.start(request)
        public = path in PUBLIC_PATHS or path.startswith("/static/")
        if not public and role is None:
            if path.startswith("/auth/"):
                return RedirectResponse("/", status_code=303)  # the page shows the login form
            return json_error("login required", 401)
        needed = required_role(request.method, path)
        if not public and role is not None and ROLES.index(role) < ROLES.index(needed):
            return json_error(f"this needs the {needed} role; you are {role}", 403)
        if request.method not in SAFE_METHODS and not self.access.bearer_ok(request) and not csrf_ok(request):
            return json_error(f"missing or wrong CSRF token (X-CSRF-Token must echo the {CSRF_COOKIE} cookie)", 403)
        return None

    @staticmethod
    def _decorate(request: Request, send: Send) -> Send:
        new_csrf = None if request.cookies.get(CSRF_COOKIE) else secrets.token_urlsafe(24)
        secure = "; Secure" if is_https(request) else ""

        async def decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if new_csrf:
                    headers.append("set-cookie", f"{CSRF_COOKIE}={new_csrf}; Path=/; SameSite=Strict{secure}")
            await send(message)

        return decorated


def session_routes(access: Access) -> list[Route]:
    """`POST /api/login` {"token": …} sets the session cookie; `POST /api/logout` clears it;
    `GET /api/me` says who the request is: `{"email", "name", "role"}` for a person signed in
    with OpenID Connect (and `"pipelines"` when they see only those), else
    `{"role": "admin", "via": "access token" | "localhost"}`."""

    async def me(request: Request) -> Response:
        person = None if access.bearer_ok(request) else access.person(request)
        if person is not None:
            scope = {} if person.pipelines is None else {"pipelines": list(person.pipelines)}
            return JSONResponse({"email": person.email, "name": person.name, "role": person.role, **scope})
        return JSONResponse({"role": access.role(request), "via": "access token" if access.required else "localhost"})

    async def login(request: Request) -> Response:
        if not access.required:
            return json_error("this dashboard has no access token; no login needed", 400)
        try:
            body = await request.json()
        except ValueError:
            body = None
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not access.token_ok(token):
            return json_error("wrong access token", 401)
        response = JSONResponse({"ok": True})
        access.set_session(response, secure=is_https(request))
        return response

    async def logout(request: Request) -> Response:
        response = JSONResponse({"ok": True})
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
        return response

    return [Route("/api/login", login, methods=["POST"]), Route("/api/logout", logout, methods=["POST"]),
            Route("/api/me", me)]
