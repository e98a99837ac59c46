"""Web-app logins in progress, one WebLogin per connection: each `state` is 256 random bits,
single-use, expires after `auth.login_ttl_s`, and is bound to the browser (or terminal) that
asked for it and to the connection whose WebLogin issued it. The PKCE verifier never leaves
this process; IMS only ever sees its S256 challenge."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from postflow.core.errors import FailedPrecondition, InvalidArgument, Unavailable
from postflow.core.pkce import code_challenge

from .ims import GrantRejected, ImsClient, ImsError, ImsUnavailable, Tokens

MAX_PENDING = 1000


@dataclass(frozen=True)
class Pending:
    binding: str = field(repr=False)
    verifier: str = field(repr=False)
    redirect_uri: str
    expires_at: float  # wall clock, for the caller
    deadline: float  # monotonic, for the check


@dataclass(frozen=True)
class Started:
    authorize_url: str
    state: str
    expires_at: float


class WebLogin:
    def __init__(self, ims: ImsClient, redirect_uri: str, ttl_s: float, *,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ims = ims
        self._redirect_uri = redirect_uri
        self._ttl_s = ttl_s
        self._clock = clock
        self._monotonic = monotonic
        self._pending: OrderedDict[str, Pending] = OrderedDict()

    def begin(self, binding: str, redirect_uri: str = "") -> Started:
        if not binding:
            raise InvalidArgument("binding: required (an opaque value tied to the browser or terminal "
                                  "that starts the login)")
        redirect_uri = redirect_uri or self._redirect_uri
        if not redirect_uri.startswith(("http://", "https://")):
            raise InvalidArgument("redirect_uri: expected an http(s) URL")
        self._forget_expired()
        while len(self._pending) >= MAX_PENDING:
            self._pending.popitem(last=False)
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        pending = Pending(binding, verifier, redirect_uri, self._clock() + self._ttl_s,
                          self._monotonic() + self._ttl_s)
        self._pending[state] = pending
        url = self._ims.authorize_url(state=state, code_challenge=code_challenge(verifier), redirect_uri=redirect_uri)
        return Started(url, state, pending.expires_at)

    def holds(self, state: str) -> bool:
        """Whether `state` was issued here and is still pending (used or not, expired or not)."""
        return state in self._pending

    async def complete(self, code: str, state: str, binding: str) -> Tokens:
        """Consumes `state` (even when the binding is wrong: a state is tried once) and
        exchanges `code` with its verifier. Stores nothing; the caller does."""
        if not code or not state:
            raise InvalidArgument("code and state: both required")
        pending = self._pending.pop(state, None)
        if pending is None:
            raise InvalidArgument("state: unknown or already used; start the login again")
        if self._monotonic() > pending.deadline:
            raise InvalidArgument("state: expired; start the login again")
        if not hmac.compare_digest(pending.binding.encode(), binding.encode()):
            raise InvalidArgument("state: was issued to another browser or terminal; start the login again")
        try:
            return await self._ims.exchange_code(code, pending.verifier, pending.redirect_uri)
        except GrantRejected as exc:
            raise InvalidArgument(f"code: IMS rejected the authorization code ({exc.error}); "
                                  "start the login again") from None
        except ImsUnavailable as exc:
            raise Unavailable(f"Adobe IMS is unreachable ({exc}); start the login again") from None
        except ImsError as exc:
            raise FailedPrecondition(f"the token exchange failed: {exc}") from None

    def _forget_expired(self) -> None:
        now = self._monotonic()
        for state in [s for s, p in self._pending.items() if now > p.deadline]:
            del self._pending[state]
