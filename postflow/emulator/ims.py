"""Adobe IMS, the OAuth 2.0 server in front of Frame.io v4: authorize (v2), token (v3) and
revoke, for the default client (the development client `postflow-dev`, or as the options say)
and any more clients the seed lists (seed.py), each with its own secret.

Who a token acts as (every token is bound to its user and its client):
- authorization code: the authorize endpoint approves at once, with no login form, as the
  seeded user whose e-mail the emulator-only `login_hint` query parameter gives (matched
  without regard to case); without one, as the client's `user` (by default the first seeded
  user). A `login_hint` no seeded user has is answered 400 `invalid_request` on the spot,
  naming the e-mails the emulator knows, with no redirect;
- refresh: the user and client of the grant; a refresh token presented by another client is
  unknown to it (`invalid_grant`), and a wrong client secret is `invalid_client` (401);
- client credentials: the client's `technical_user` (by default the first seeded user), where
  IMS would use a technical account of the organisation.

Choices where IMS and its docs differ from what a loopback demo can do, or say nothing:
- IMS only redirects to HTTPS URIs matching the credential's pattern; here any HTTPS URI is
  accepted, and plain HTTP on a loopback host (localhost, 127.0.0.1, ::1) only when the
  emulator was started with `--allow-http-loopback-redirect` (demo and tests); anything else
  is an `invalid_request` error (IMS would fall back to the Default Redirect URI);
- a refresh token is issued only when the scope holds `offline_access`, as with IMS;
  an `id_token` (RS256, oidc.py) only when it holds `openid`, with the authorize request's
  `nonce` when it gave one (an ID token from a refresh has none);
- a refresh token lives `refresh_token_ttl_s` (14 days) from the login that started its grant,
  however often it is rotated (Adobe: refreshing does not extend it);
- every refresh rotates: a new refresh token comes back and the used one is refused
  (`invalid_grant`) unless the `reject_refresh_token_reuse` fault is off; an expired one is
  refused `invalid_token` ("... expired ...", as the SDK's auth module expects; the
  `expired_refresh_error` fault switches it to `invalid_grant`);
- revoke: HTTP Basic client authentication only (the body holds `token`, optionally
  `token_type_hint`), as Adobe documents for web-app credentials; body credentials get 401
  `invalid_client`. Server-to-server tokens may still be revoked with body credentials.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from postflow.emulator.directory import Directory, OAuthClient
from postflow.emulator.oidc import id_token
from postflow.emulator.responses import ImsError, ims_error
from postflow.emulator.tokens import ACCESS, REFRESH

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
MAX_STATE = 4096
PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
S2S_SCOPE = "openid AdobeID frame.s2s.all"


def redirect_uri_allowed(uri: str, http_loopback: bool) -> bool:
    """https, or http on a loopback host when `http_loopback` (explicit demo/test use)."""
    parts = urlsplit(uri)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (http_loopback and parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


def with_query(uri: str, **params: str | None) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def read_form(request: Request) -> dict[str, str]:
    """The form-encoded body (RFC 6749 requires application/x-www-form-urlencoded)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise ImsError("invalid_request", "the body must be application/x-www-form-urlencoded")
    return dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))


async def authorize(request: Request) -> Response:
    emulator = request.app.state.emulator
    query = request.query_params
    redirect_uri = query.get("redirect_uri", "")
    directory: Directory = emulator.store.directory
    client = directory.clients.get(query.get("client_id", ""))
    if client is None:
        return ims_error("invalid_client", "unknown client_id")
    if not redirect_uri_allowed(redirect_uri, emulator.options.allow_http_loopback_redirect):
        plain = " (http on a loopback host only with --allow-http-loopback-redirect)"
        return ims_error("invalid_request", f"redirect_uri must be https{plain}")
    hint = query.get("login_hint")
    user = directory.users[client.user_id] if hint is None else directory.user_by_email(hint)
    if user is None:
        known = ", ".join(u.email for u in directory.users.values())
        return ims_error("invalid_request", f"login_hint {hint!r}: no such user in the emulator (its users: {known})")
    state = query.get("state")

    def refuse(error: str, description: str) -> Response:
        return RedirectResponse(with_query(redirect_uri, error=error, error_description=description,
                                           state=state), status_code=302)

    if query.get("response_type") != "code":
        return refuse("unsupported_response_type", "response_type must be code")
    if state is not None and len(state) > MAX_STATE:
        return refuse("invalid_request", f"state is longer than {MAX_STATE} characters")
    challenge, method = query.get("code_challenge"), query.get("code_challenge_method")
    if challenge is not None and method != "S256":
        return refuse("invalid_request", "code_challenge_method must be S256")
    if challenge is not None and not PKCE_CHALLENGE.match(challenge):
        return refuse("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)")
    if challenge is None and method is not None:
        return refuse("invalid_request", "code_challenge_method without code_challenge")
    code = emulator.tokens.issue_code(client.client_id, redirect_uri, query.get("scope", ""), user.id, challenge,
                                      emulator.options.auth_code_ttl_s, query.get("nonce"))
    return RedirectResponse(with_query(redirect_uri, code=code.value, state=state), status_code=302)


def authenticate_client(request: Request, form: dict[str, str], directory: Directory) -> OAuthClient:
    """The client, authenticated by HTTP Basic or by client_id/client_secret in the body."""
    header = request.headers.get("authorization", "")
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if header[:6].lower() == "basic ":
        if secret is not None:
            raise ImsError("invalid_request", "use one client authentication method, not two")
        try:
            basic_id, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except ValueError:
            raise ImsError("invalid_client", "malformed Basic credentials", 401) from None
        basic_id, secret = unquote(basic_id), unquote(secret)
        if client_id is not None and client_id != basic_id:
            raise ImsError("invalid_client", "client_id differs from the Basic credentials", 401)
        client_id = basic_id
    client = directory.clients.get(client_id or "")
    if client is None or not hmac.compare_digest(str(secret or "").encode(), client.client_secret.encode()):
        raise ImsError("invalid_client", "client authentication failed", 401)
    return client


async def issue_tokens(request: Request, client: OAuthClient, user_id: str, scope: str, grant_type: str,
                       grant_id: str, nonce: str | None = None) -> JSONResponse:
    """Tokens for `user_id` through `client`."""
    emulator = request.app.state.emulator
    options = emulator.options
    user = emulator.store.directory.users[user_id]
    client_id = client.client_id
    ttl = emulator.faults.access_token_ttl_s or options.access_token_ttl_s
    access = emulator.tokens.issue(ACCESS, client_id, user.id, scope, grant_type, grant_id, ttl)
    body: dict = {"access_token": access.value, "token_type": "bearer", "expires_in": ttl}
    scopes = scope.split()
    if grant_type != "client_credentials" and "offline_access" in scopes:
        refresh = emulator.tokens.issue(REFRESH, client_id, user.id, scope, grant_type, grant_id,
                                        emulator.faults.refresh_ttl(options), from_login=True)
        body["refresh_token"] = refresh.value
    if "openid" in scopes:
        body["id_token"] = await id_token(request, client_id, user, ttl, nonce)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def token(request: Request) -> Response:
    emulator = request.app.state.emulator
    try:
        form = await read_form(request)
        client = authenticate_client(request, form, emulator.store.directory)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = emulator.tokens.redeem_code(form.get("code", ""), client.client_id, form.get("redirect_uri"),
                                               form.get("code_verifier"))
            return await issue_tokens(request, client, code.user_id, code.scope, grant_type, secrets.token_hex(8),
                                          code.nonce)
        if grant_type == "refresh_token":
            used = emulator.tokens.rotate(form.get("refresh_token", ""), client.client_id,
                                          emulator.faults.rejects_refresh_reuse,
                                          emulator.faults.expired_refresh_code())
            asked = form.get("scope")
            if asked is not None and not set(asked.split()) <= set(used.scope.split()):
                raise ImsError("invalid_scope", "scope exceeds the one originally granted")
            return await issue_tokens(request, client, used.user_id, used.scope, grant_type, used.grant_id)
        if grant_type == "client_credentials":
            return await issue_tokens(request, client, client.technical_user_id, form.get("scope") or S2S_SCOPE,
                                      grant_type, secrets.token_hex(8))
        raise ImsError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    except ImsError as exc:
        return exc.response()


def uses_basic(request: Request) -> bool:
    return request.headers.get("authorization", "")[:6].lower() == "basic "


async def revoke(request: Request) -> Response:
    emulator = request.app.state.emulator
    try:
        form = await read_form(request)
        value = form.get("token")
        held = emulator.tokens.find(value) if value else None
        server_to_server = held is not None and held.grant_type == "client_credentials"
        if not server_to_server and not uses_basic(request):
            raise ImsError("invalid_client", "web app credentials revoke with HTTP Basic client authentication "
                                             "(Authorization: Basic base64(client_id:client_secret))", 401)
        client = authenticate_client(request, form, emulator.store.directory)
    except ImsError as exc:
        return exc.response()
    if not value:
        return ims_error("invalid_request", "token is required")
    emulator.tokens.revoke(value, client.client_id)
    return Response(status_code=200)


def ims_routes() -> list[Route]:
    return [
        Route("/ims/authorize/v2", authorize, methods=["GET"]),
        Route("/ims/token/v3", token, methods=["POST"]),
        Route("/ims/revoke", revoke, methods=["POST"]),
    ]
