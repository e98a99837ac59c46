"""Adobe IMS over a passed-in httpx.AsyncClient: the token endpoint's three grants, and
revocation. RFC 6749 error bodies become typed exceptions whose message holds only the
error code: an `error_description` may echo what was sent, so it is never repeated.

The client authenticates to the token endpoint with its credentials in the form body
(`client_secret_post`, which IMS lists and Frame.io's SDK uses) and to the revocation endpoint
with HTTP Basic, the only way Adobe documents for web-app credentials there (the SDK does so too)."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

from postflow.core.config import FrameioConfig

AUTHORIZE_PATH = "/ims/authorize/v2"
TOKEN_PATH = "/ims/token/v3"
REVOKE_PATH = "/ims/revoke"
USER_SCOPES = FrameioConfig.scopes
S2S_SCOPES = "openid AdobeID frame.s2s.all"
_ERROR_CODE = re.compile(r"[a-z0-9_.]{1,64}")


class ImsError(Exception):
    """IMS refused the request; `error` is the RFC 6749 code (sanitised)."""

    def __init__(self, error: str, status: int | None = None) -> None:
        super().__init__(f"IMS answered {error}" + (f" (HTTP {status})" if status else ""))
        self.error = error
        self.status = status


# IMS does not document its codes; Frame.io's SDK reads both as "the refresh token expired".
DEAD_GRANT_ERRORS = ("invalid_grant", "invalid_token")


class GrantRejected(ImsError):
    """`invalid_grant` or `invalid_token`: the code or refresh token is dead (expired, revoked, reused)."""


class ImsUnavailable(ImsError):
    """Network failure, 429 or 5xx: trying again later may work."""


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)  # "" when IMS sent none (client_credentials)
    expires_in: float
    requested_at: float  # when the request left: expiry counts from here, never later


class ImsClient:
    def __init__(self, http: httpx.AsyncClient, config: FrameioConfig, clock: Callable[[], float] = time.time) -> None:
        self._http = http
        self._config = config
        self._clock = clock
        self._base = config.ims_base_url.rstrip("/")

    def authorize_url(self, *, state: str, code_challenge: str, redirect_uri: str) -> str:
        query = urlencode({
            "client_id": self._config.client_id, "redirect_uri": redirect_uri, "scope": self._config.scopes,
            "response_type": "code", "state": state,
            "code_challenge": code_challenge, "code_challenge_method": "S256",
        })
        return f"{self._base}{AUTHORIZE_PATH}?{query}"

    async def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> Tokens:
        return await self._token({"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                  "redirect_uri": redirect_uri})

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def client_credentials(self) -> Tokens:
        scopes = S2S_SCOPES if self._config.scopes == USER_SCOPES else self._config.scopes
        return await self._token({"grant_type": "client_credentials", "scope": scopes})

    async def revoke(self, token: str, token_type_hint: str) -> None:
        """Raises ImsError (or ImsUnavailable) when IMS does not confirm the revocation."""
        basic = base64.b64encode(f"{self._config.client_id}:{self._config.client_secret}".encode()).decode()
        response = await self._post(REVOKE_PATH, {"token": token, "token_type_hint": token_type_hint},
                                    {"Authorization": f"Basic {basic}"})
        if response.status_code != 200:
            raise _error_from(response)

    async def _token(self, form: dict[str, str]) -> Tokens:
        requested_at = self._clock()
        credentials = {"client_id": self._config.client_id, "client_secret": self._config.client_secret}
        response = await self._post(TOKEN_PATH, {**form, **credentials})
        if response.status_code != 200:
            raise _error_from(response)
        body = _json(response)
        access, expires_in = body.get("access_token"), body.get("expires_in", "")
        refresh = body.get("refresh_token") or ""
        if not isinstance(access, str) or not access or not isinstance(refresh, str):
            raise ImsError("malformed_response", response.status_code)
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            raise ImsError("malformed_response", response.status_code) from None
        return Tokens(access, refresh, lifetime, requested_at)

    async def _post(self, path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._http.post(f"{self._base}{path}", data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise ImsUnavailable(type(exc).__name__) from None


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_from(response: httpx.Response) -> ImsError:
    status = response.status_code
    error = _json(response).get("error")
    error = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else f"http_{status}"
    if status == 429 or status >= 500:
        return ImsUnavailable(error, status)
    if error in DEAD_GRANT_ERRORS:
        return GrantRejected(error, status)
    return ImsError(error, status)
