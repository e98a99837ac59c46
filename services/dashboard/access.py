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

from postflow.core.net import is_loopback
from services.dashboard.http_errors import json_error

SESSION_COOKIE = "postflow_session"
CSRF_COOKIE = "postflow_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 30 * 24 * 3600
PUBLIC_PATHS = {"/", "/analytics", "/manifest.webmanifest", "/livez", "/readyz", "/api/login", "/favicon.ico"}
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
    def __init__(self, token: str | None) -> None:
        self.token = token or None

    @property
    def required(self) -> bool:
        return self.token is not None

    def bearer_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(value.strip())

    def session_ok(self, request: Request) -> bool:
        version, _, rest = request.cookies.get(SESSION_COOKIE, "").partition(".")
        expires, _, signature = rest.partition(".")
        if version != "v1" or not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(signature, self._sign(expires))

    def allowed(self, request: Request) -> bool:
        return not self.required or self.bearer_ok(request) or self.session_ok(request)

    def is_admin(self, request: Request) -> bool:
        """May see what only admins see (the audit log). The one place that decides it: today
        every signed-in user (of a dashboard without a token: every local user) is an admin."""
        return self.allowed(request)

    def token_ok(self, candidate: str) -> bool:
        return self.token is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    def set_session(self, response: Response, secure: bool) -> None:
        expires = str(int(time.time()) + SESSION_TTL_S)
        response.set_cookie(SESSION_COOKIE, f"v1.{expires}.{self._sign(expires)}", max_age=SESSION_TTL_S,
                            httponly=True, samesite="lax", secure=secure)

    def _sign(self, expires: str) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), f"postflow-session.v1.{expires}".encode(), hashlib.sha256).hexdigest()


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
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, self._decorate(request, send))

    def _refusal(self, request: Request) -> Response | None:
        path = request.url.path
        if not self.access.required and not is_loopback(request.url.hostname or ""):
            return json_error("this dashboard has no access token, so it only answers on localhost", 403)
        public = path in PUBLIC_PATHS or path.startswith("/static/")
        if not public and not self.access.allowed(request):
            if path.startswith("/auth/"):
                return RedirectResponse("/", status_code=303)  # the page shows the login form
            return json_error("login required", 401)
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
    """`POST /api/login` {"token": …} sets the session cookie; `POST /api/logout` clears it."""

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

    return [Route("/api/login", login, methods=["POST"]), Route("/api/logout", logout, methods=["POST"])]
