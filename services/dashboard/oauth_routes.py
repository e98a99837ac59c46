"""Connecting Frame.io from the browser: `/auth/login[?connection=NAME]` → Adobe IMS →
`/auth/callback`, and `POST /api/auth/disconnect[?connection=NAME]` (no name: the default
connection). The callback needs no name: the login's `state` tells auth which connection began it.

The login is bound to the browser that started it: a random HttpOnly cookie whose SHA-256
is the `binding` given to BeginAuthorization and presented again to CompleteAuthorization,
so a callback URL opened in another browser (or replayed) is refused by the auth service.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from postflow.core.clients import Clients
from postflow.core.errors import PostflowError, Unavailable, from_rpc_error
from postflow.v1 import auth_pb2
from services.dashboard.access import is_https
from services.dashboard.api import INTERACTIVE_TIMEOUT_S
from services.dashboard.http_errors import UPSTREAM_FAILED, http_status
from services.dashboard.hub import Hub
from services.dashboard.pages import problem_page
from services.dashboard.views import auth_view

log = logging.getLogger(__name__)

BINDING_COOKIE = "postflow_oauth"
COOKIE_PATH = "/auth"
EXCHANGE_TIMEOUT_S = 30.0  # the auth service talks to Adobe IMS (code exchange, revocation)


def binding_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def connection_of(request: Request) -> str:
    """The connection the request names (`?connection=`); "" for the default one."""
    return request.query_params.get("connection", "")


def login_problem(error: PostflowError) -> Response:
    """Refusals (unknown, reused or expired state, wrong binding) are the browser's problem
    (400); an unreachable auth service is 503; anything else failed upstream (502)."""
    status = http_status(error)
    status = status if status in (503, UPSTREAM_FAILED) else 400
    return problem_page(status, "Frame.io login failed", str(error))


def oauth_routes(clients: Clients, hub: Hub, login_ttl_s: float) -> list[Route]:
    async def login(request: Request) -> Response:
        secret = secrets.token_urlsafe(32)
        try:
            begun = await clients.auth.BeginAuthorization(
                auth_pb2.BeginAuthorizationRequest(binding=binding_of(secret), connection=connection_of(request)),
                timeout=INTERACTIVE_TIMEOUT_S)
        except grpc.RpcError as exc:
            return login_problem(from_rpc_error(exc))
        response = RedirectResponse(begun.authorize_url, status_code=303)
        response.set_cookie(BINDING_COOKIE, secret, max_age=int(login_ttl_s), path=COOKIE_PATH, httponly=True,
                            samesite="lax", secure=is_https(request))
        return response

    async def callback(request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            reason = params.get("error_description") or params["error"]
            return problem_page(400, "Frame.io login refused", f"Adobe IMS answered: {reason}")
        code, state = params.get("code"), params.get("state")
        if not code or not state:
            return problem_page(400, "Frame.io login failed", "The callback has no code or no state parameter.")
        secret = request.cookies.get(BINDING_COOKIE)
        if not secret:
            return problem_page(400, "Frame.io login failed",
                                "The login cookie is missing: the login must start from this dashboard's "
                                "Connect button, finish in the same browser within the time allowed, and the "
                                "dashboard must be opened under the host name of frameio.redirect_uri.")
        try:
            status = await clients.auth.CompleteAuthorization(
                auth_pb2.CompleteAuthorizationRequest(code=code, state=state, binding=binding_of(secret)),
                timeout=EXCHANGE_TIMEOUT_S)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            if not isinstance(error, Unavailable):
                log.info("Frame.io login refused: %s", error)
            return login_problem(error)
        hub.set_auth(status)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(BINDING_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
        return response

    async def disconnect(request: Request) -> Response:
        status = await clients.auth.Disconnect(auth_pb2.DisconnectRequest(connection=connection_of(request)),
                                               timeout=EXCHANGE_TIMEOUT_S)
        hub.set_auth(status)
        return JSONResponse(auth_view(status))

    return [
        Route("/auth/login", login, methods=["GET"]),
        Route("/auth/callback", callback, methods=["GET"]),
        Route("/api/auth/disconnect", disconnect, methods=["POST"]),
    ]
