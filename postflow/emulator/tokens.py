"""Adobe IMS state: authorization codes and every access and refresh token issued, with its
life (active, rotated, revoked, expired). Tokens of one authorization form a grant: a
refresh rotates within it, and revoking a refresh token ends the grant's access tokens too
(RFC 7009 §2.1). A grant remembers when its login happened: a refresh token's lifetime counts
from there, however often it was rotated (Adobe: "user interaction will be required every
two weeks")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from postflow.emulator.responses import ImsError

ACCESS, REFRESH = "access", "refresh"


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of `verifier` (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


@dataclass
class AuthCode:
    value: str
    client_id: str
    redirect_uri: str
    scope: str
    user_id: str
    code_challenge: str | None
    expires_at: float
    nonce: str | None = None  # the authorize request's, echoed in the ID token
    used: bool = False


@dataclass
class Token:
    value: str
    kind: str
    client_id: str
    user_id: str
    scope: str
    grant_type: str
    grant_id: str
    issued_at: float
    expires_at: float
    revoked_at: float | None = None
    rotated_at: float | None = None

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.rotated_at is not None:
            return "rotated"
        return "expired" if now >= self.expires_at else "active"

    def describe(self, now: float) -> dict:
        return {"kind": self.kind, "value": self.value, "state": self.state(now), "client_id": self.client_id,
                "user_id": self.user_id, "scope": self.scope, "grant_type": self.grant_type,
                "grant_id": self.grant_id, "issued_at": self.issued_at, "expires_at": self.expires_at,
                "revoked_at": self.revoked_at, "rotated_at": self.rotated_at}


class TokenRegistry:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._codes: dict[str, AuthCode] = {}
        self._tokens: dict[str, Token] = {}
        self._logins: dict[str, float] = {}  # grant id → when its login happened

    def issue_code(self, client_id: str, redirect_uri: str, scope: str, user_id: str, code_challenge: str | None,
                   ttl_s: float, nonce: str | None = None) -> AuthCode:
        code = AuthCode(secrets.token_urlsafe(24), client_id, redirect_uri, scope, user_id, code_challenge,
                        time.time() + ttl_s, nonce)
        self._codes[code.value] = code
        return code

    def redeem_code(self, value: str, client_id: str, redirect_uri: str | None, verifier: str | None) -> AuthCode:
        """The code's grant, once: a code is bound to its client, redirect URI and PKCE challenge."""
        code = self._codes.get(value)
        if code is None or code.client_id != client_id:
            raise ImsError("invalid_grant", "authorization code is unknown")
        if code.used:
            raise ImsError("invalid_grant", "authorization code was already used")
        code.used = True
        if time.time() >= code.expires_at:
            raise ImsError("invalid_grant", "authorization code expired")
        if redirect_uri != code.redirect_uri:
            raise ImsError("invalid_grant", "redirect_uri does not match the authorization request")
        if code.code_challenge is not None:
            if not verifier:
                raise ImsError("invalid_grant", "code_verifier is required (PKCE)")
            if not hmac.compare_digest(s256(verifier), code.code_challenge):
                raise ImsError("invalid_grant", "code_verifier does not match the code_challenge")
        return code

    def login_at(self, grant_id: str) -> float:
        """When the login that started `grant_id` happened (now, for a new grant)."""
        return self._logins.setdefault(grant_id, time.time())

    def issue(self, kind: str, client_id: str, user_id: str, scope: str, grant_type: str, grant_id: str,
              ttl_s: float, from_login: bool = False) -> Token:
        """A new token living `ttl_s` from now, or from its grant's login when `from_login`."""
        now = time.time()
        start = self.login_at(grant_id) if from_login else now
        token = Token(secrets.token_urlsafe(32), kind, client_id, user_id, scope, grant_type, grant_id, now,
                      start + ttl_s)
        self._tokens[token.value] = token
        return token

    def find(self, value: str) -> Token | None:
        return self._tokens.get(value)

    def rotate(self, value: str, client_id: str, reject_reuse: bool, expired_error: str) -> Token:
        """The refresh token `value`, marked rotated; a rotated one is refused when `reject_reuse`.
        Refusals are `invalid_grant`, but `expired_error` for an expired one."""
        token = self._tokens.get(value)
        if token is None or token.kind != REFRESH or token.client_id != client_id:
            raise ImsError("invalid_grant", "refresh token is unknown")
        state = token.state(time.time())
        if state == "rotated" and not reject_reuse:
            return token
        if state == "expired":
            raise ImsError(expired_error, "refresh token expired: a new login is required")
        if state != "active":
            raise ImsError("invalid_grant", f"refresh token is {state}")
        token.rotated_at = time.time()
        return token

    def revoke(self, value: str, client_id: str) -> None:
        """Revokes `value` if this client holds it (unknown tokens are ignored, RFC 7009 §2.2)."""
        token = self._tokens.get(value)
        if token is None or token.client_id != client_id:
            return
        now = time.time()
        ended = [token]
        if token.kind == REFRESH:
            ended += [t for t in self._tokens.values() if t.grant_id == token.grant_id]
        for each in ended:
            if each.revoked_at is None:
                each.revoked_at = now

    def expire_access_tokens(self) -> int:
        """Ends every active access token now (a fault); returns how many."""
        now = time.time()
        live = [t for t in self._tokens.values() if t.kind == ACCESS and t.state(now) == "active"]
        for token in live:
            token.expires_at = now
        return len(live)

    def describe(self) -> list[dict]:
        now = time.time()
        return [token.describe(now) for token in self._tokens.values()]
