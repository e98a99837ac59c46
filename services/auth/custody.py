"""Token custody: the state machine that keeps the Frame.io connection alive until its
re-login deadline.

- Access tokens are refreshed ahead of expiry (`auth.refresh_margin_s`), by a background
  loop and on demand, one refresh at a time: concurrent callers share the refresh in flight.
  The refresh runs as its own task, so a caller that gives up (deadline, cancel) never
  interrupts it between IMS rotating the refresh token and the new one reaching disk.
- A rotated refresh token is persisted before anything else sees it: the token response is
  read, encrypted and written to the store with no await in between, then published.
- `invalid_grant` or `invalid_token` (expired, revoked, reused) → RECONNECT_NEEDED:
  GetAccessToken answers FAILED_PRECONDITION so jobs wait, the dashboard shows it, a new login
  resumes everything.
- A web-app login lasts `auth.refresh_token_lifetime_s` (IMS: 14 days from login; refreshing
  does not extend it). The deadline is stored with the tokens; `auth.relogin_warning_s` before
  it, a WARNING is logged and a status published (once per login and process); at the deadline
  the connection goes RECONNECT_NEEDED without another call to IMS.

The one window no client can close opens when a refresh request leaves this process and
closes when its answer is written to the store. If the process dies inside it (SIGKILL,
power cut) after IMS has acted on the request, the old refresh token is dead at an IMS that
refuses reuse and the new one existed only in an answer nobody read: the next refresh gets
`invalid_grant` and the user must reconnect. The window is one IMS round trip plus about a
tenth of a millisecond here (parse, encrypt, one write(): see TokenStore), once per access
token lifetime (~24 h with IMS), i.e. around a millionth of the time. Only an IMS that
accepted the previous refresh token for a moment could close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

from postflow.core.backoff import Backoff
from postflow.core.errors import FailedPrecondition, Unavailable
from postflow.core.pipelines import DEFAULT
from postflow.core.protos import label
from postflow.v1 import auth_pb2

from .grant import Grant, from_record, to_record
from .identity import Identity
from .ims import GrantRejected, ImsClient, ImsError, ImsUnavailable, Tokens
from .named import ConnectionLog, frameio_name, login_command
from .relogin import Relogin, connect_again
from .token_store import StoreUnreadable, TokenStore

log = logging.getLogger(__name__)

CONNECTED = auth_pb2.AUTH_STATE_CONNECTED
DISCONNECTED = auth_pb2.AUTH_STATE_DISCONNECTED
RECONNECT_NEEDED = auth_pb2.AUTH_STATE_RECONNECT_NEEDED
WEB_APP = auth_pb2.GRANT_KIND_WEB_APP
SERVER_TO_SERVER = auth_pb2.GRANT_KIND_SERVER_TO_SERVER
RETRY_BASE_S = 2.0
RETRY_MAX_S = 300.0
STOP_WAIT_S = 30.0
MIN_INTERVAL_S = 0.5

NOT_CONNECTED = "{frameio} is not connected: connect it from the dashboard or with {login}"
FETCHING = "fetching a server-to-server access token (client_credentials)"
RECONNECT = ("{frameio} needs reconnecting: Adobe IMS rejected the refresh token ({error}: expired, revoked or "
             "already used). {connect_again}")
UNREADABLE = ("the stored tokens cannot be read with the configured auth.token_key; connect Frame.io again "
              "(or restore the key)")


class Custody:
    """One connection's login. Each status change goes to `publish`."""

    def __init__(self, *, kind: auth_pb2.GrantKind, client_id: str, store: TokenStore, ims: ImsClient,
                 identify: Callable[[str], Awaitable[Identity]], refresh_margin_s: float, auto_refresh: bool,
                 relogin: Relogin, add_secret: Callable[[str], None], clock: Callable[[], float] = time.time,
                 name: str = DEFAULT, publish: Callable[[auth_pb2.AuthStatus], None] = lambda status: None) -> None:
        self.name = name
        self.kind = kind
        self._client_id = client_id
        self._store = store
        self._ims = ims
        self._identify = identify
        self._margin_s = refresh_margin_s
        self._auto_refresh = auto_refresh
        self._relogin = relogin
        self._add_secret = add_secret
        self._clock = clock
        self._publish = publish
        self._log = ConnectionLog(log, name)
        self._not_connected = NOT_CONNECTED.format(frameio=frameio_name(name), login=login_command(name))
        self._idle = self._not_connected if kind == WEB_APP else FETCHING  # the message of DISCONNECTED
        self._state = DISCONNECTED
        self._message = self._idle
        self._grant: Grant | None = None
        self._lock = asyncio.Lock()  # serialises every change of grant: refresh, login, disconnect
        self._refreshing: asyncio.Task[Grant] | None = None
        self._changed = asyncio.Event()  # set at each change; the keep-alive loop clears it before it sleeps
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False  # set by stop() once the lock is free: nothing more reaches IMS or the store

    # -- life cycle ----------------------------------------------------------------------

    def load(self) -> None:
        """Reads the store. A record for another client or grant kind is ignored (not deleted)."""
        try:
            record = self._store.load()
            state, message, grant = from_record(record, self._relogin.lifetime_s) if record else \
                (DISCONNECTED, self._idle, None)
        except StoreUnreadable as exc:
            self._log.warning("%s", exc)
            self._set(RECONNECT_NEEDED, UNREADABLE, None)
            return
        except (ValueError, TypeError, KeyError) as exc:
            self._log.warning("the token store holds a record this version cannot read (%s); ignoring it", exc)
            self._set(DISCONNECTED, self._idle, None)
            return
        if grant is not None and (grant.client_id != self._client_id or grant.kind != self.kind):
            self._log.warning("stored tokens belong to another client id or grant kind; ignoring them")
            state, message, grant = DISCONNECTED, self._idle, None
        if grant is not None:
            self._add_secret(grant.access_token)
            self._add_secret(grant.refresh_token)
        self._set(state, message, grant)
        if grant is not None and grant.lapsed(self._clock()):
            self._lapse_now(grant)
        self._log.info("token store loaded: %s", label(auth_pb2.AuthState, self._state))

    def start(self) -> None:
        self._keeper = asyncio.create_task(self._keep_alive(), name=f"auth-keep-alive-{self.name}")

    async def stop(self) -> None:
        """Ends the keep-alive loop, lets a refresh in flight reach the disk, then closes: what runs
        later is refused before IMS or the store (a custody rebuilt by a reload may use it)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._refreshing is not None and not self._refreshing.done():
            # A refresh in flight may have rotated the refresh token: let it reach the disk.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._refreshing), STOP_WAIT_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lock.acquire(), STOP_WAIT_S)  # whoever holds it finishes first
            self._lock.release()  # a waiter runs only after the next line
        self._closed = True

    # -- what the RPCs call --------------------------------------------------------------

    async def access_token(self, force: bool = False, rejected_token: str = "") -> Grant:
        grant = self._grant
        if self._state != CONNECTED or grant is None:
            if self.kind == SERVER_TO_SERVER and self._state == DISCONNECTED:
                return await self._refresh(grant)
            raise FailedPrecondition(self._not_connected if self._state == DISCONNECTED else self._message)
        now = self._clock()
        if grant.lapsed(now):
            await self._lapse(grant)
            return await self.access_token(force, rejected_token)  # raises, unless a login came in between
        if force:
            if rejected_token and rejected_token != grant.access_token and grant.usable(now):
                return grant  # someone else already replaced the rejected token
            fresh = await self._refresh(grant)
            # A refresh started before this grant was installed (by a login) returns it as is.
            return await self._refresh(fresh) if fresh.access_token == grant.access_token else fresh
        if now < grant.due_at(self._margin_s):
            return grant
        try:
            return await self._refresh(grant)
        except Unavailable:
            if grant.usable(self._clock()):
                return grant
            raise

    async def connect(self, tokens: Tokens) -> auth_pb2.AuthStatus:
        """Takes the tokens of a completed login (replacing any earlier connection)."""
        async with self._lock:
            old = self._grant
            grant = Grant.issued(self.kind, self._client_id, tokens, self._relogin.lifetime_s)
            self._commit(grant)
        self._log.info("Frame.io connected")
        await self._add_identity(grant)
        if old is not None and old.refresh_token != grant.refresh_token:
            await self._revoke(old)
        return self.status()

    async def disconnect(self) -> auth_pb2.AuthStatus:
        if self.kind == SERVER_TO_SERVER:
            raise FailedPrecondition("server-to-server credentials come from the config (frameio.client_credentials); "
                                     "remove them there to disconnect")
        async with self._lock:
            self._check_open()
            grant = self._grant
            revoked = await self._revoke(grant) if grant is not None else True
            self._store.wipe()
            message = "disconnected" if revoked else \
                "disconnected; Adobe IMS could not confirm the revocation, the tokens were wiped here"
            self._set(DISCONNECTED, message, None)
        self._log.info("Frame.io disconnected")
        return self.status()

    def status(self) -> auth_pb2.AuthStatus:
        status = auth_pb2.AuthStatus(state=self._state, grant=self.kind, message=self._message, connection=self.name)
        grant = self._grant
        if grant is not None:
            grant.describe(status)
            status.reauth_soon = self._state == CONNECTED and self._relogin.soon(grant, self._clock())
        return status

    # -- refresh -------------------------------------------------------------------------

    async def _refresh(self, seen: Grant | None) -> Grant:
        """Single flight: joins the refresh in flight, or starts one for the grant `seen`."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh_now(seen), name=f"auth-refresh-{self.name}")
            self._refreshing.add_done_callback(_retrieve)
        return await asyncio.shield(self._refreshing)

    async def _refresh_now(self, seen: Grant | None) -> Grant:
        async with self._lock:
            self._check_open()
            current = self._grant
            if current is not None and self._state == CONNECTED and (
                    seen is None or current.access_token != seen.access_token):
                return current  # refreshed by someone else while we waited for the lock
            if self.kind == WEB_APP and current is None:
                raise FailedPrecondition(self._message)
            if current is not None and current.lapsed(self._clock()):
                self._lapse_now(current)  # the refresh token is dead: IMS is not asked
                raise FailedPrecondition(self._message)
            try:
                if current is None or self.kind == SERVER_TO_SERVER:
                    tokens = await self._ims.client_credentials()
                else:
                    tokens = await self._ims.refresh(current.refresh_token)
            except GrantRejected as exc:
                if self.kind == SERVER_TO_SERVER:
                    raise self._refused(exc) from None
                self._needs_login(RECONNECT.format(frameio=frameio_name(self.name), error=exc.error,
                                                   connect_again=connect_again(self.name)))
                self._log.warning("refresh token rejected by IMS (%s): reconnect needed", exc.error)
                raise FailedPrecondition(self._message) from None
            except ImsUnavailable as exc:
                self._log.warning("token refresh: Adobe IMS unavailable (%s); will retry", exc)
                message = f"Adobe IMS is unavailable ({exc}); retrying"
                if self._state == DISCONNECTED:  # no server-to-server token yet: say why
                    self._set(DISCONNECTED, message, None)
                raise Unavailable(message) from None
            except ImsError as exc:
                raise self._refused(exc) from None
            # Nothing between the response and the store: see the module docstring.
            grant = Grant.issued(self.kind, self._client_id, tokens, self._relogin.lifetime_s) if current is None \
                else current.refreshed(tokens)
            self._commit(grant)
        self._log.info("access token %s; valid for %.0fs", "refreshed" if current else "obtained", tokens.expires_in)
        if current is None:
            await self._add_identity(grant)
        latest = self._grant
        return latest if latest is not None and grant.same_connection(latest) else grant

    def _refused(self, exc: ImsError) -> FailedPrecondition:
        """IMS refused the client itself (e.g. invalid_client): the tokens are kept, since a
        fixed credential may work again; the background loop retries slowly."""
        message = (f"Adobe IMS refused the credentials ({exc.error}): check frameio.client_id and "
                   "frameio.client_secret against the Adobe Developer Console")
        self._set(RECONNECT_NEEDED, message, self._grant)
        self._log.warning("token refresh refused by IMS (%s)", exc.error)
        return FailedPrecondition(message)

    async def _keep_alive(self) -> None:
        """Refreshes ahead of expiry (when auto refresh is on), retries refused credentials
        slowly, and keeps the re-login deadline: the warning, then the end of the login."""
        retries = Backoff(RETRY_BASE_S, RETRY_MAX_S, jitter=0)
        retry_in = 0.0
        while True:
            self._changed.clear()
            await self._keep_deadline()
            refresh_in = self._next_refresh_in(retry_in)
            deadline_in = self._next_deadline_event_in()
            wake_in = _earliest(refresh_in, deadline_in)
            if wake_in is None or wake_in > 0:
                try:
                    await asyncio.wait_for(self._changed.wait(), wake_in)
                    continue
                except TimeoutError:
                    pass
            if refresh_in is None or (deadline_in is not None and deadline_in < refresh_in):
                continue  # the warning or the deadline is due, handled at the top
            try:
                await self._refresh(self._grant)
                retries.succeeded()
                retry_in = 0.0
            except (Unavailable, FailedPrecondition):
                retry_in = retries.failed()
            except Exception:
                self._log.exception("background token refresh failed")
                retry_in = retries.failed()

    def _next_refresh_in(self, backoff: float) -> float | None:
        """Seconds until the background loop should refresh, waiting at least `backoff` after
        failures; None: wait for a change."""
        grant, now = self._grant, self._clock()
        if self.kind == WEB_APP and not self._auto_refresh:
            return None
        if self._state == CONNECTED and grant is not None:
            return max(grant.due_at(self._margin_s) - now, backoff, MIN_INTERVAL_S)
        if self._state == RECONNECT_NEEDED and (grant is not None or self.kind == SERVER_TO_SERVER):
            return max(backoff, 2.0)  # refused credentials: a fixed Console entry may work again
        if self.kind == SERVER_TO_SERVER and self._state == DISCONNECTED:
            return backoff
        return None

    # -- the re-login deadline ------------------------------------------------------------

    def _next_deadline_event_in(self) -> float | None:
        grant = self._grant
        return self._relogin.next_event_in(grant, self._clock()) if self._state == CONNECTED and grant else None

    async def _keep_deadline(self) -> None:
        """Ends a lapsed login, or gives the warning once when its window has opened."""
        grant = self._grant
        if self._state != CONNECTED or grant is None or not grant.reauth_deadline:
            return
        if grant.lapsed(self._clock()):
            await self._lapse(grant)
        elif self._relogin.warn(grant, self._clock()):
            self._publish(self.status())

    async def _lapse(self, grant: Grant) -> None:
        async with self._lock:
            if self._state == CONNECTED and grant.same_connection(self._grant):
                self._lapse_now(grant)

    def _lapse_now(self, grant: Grant) -> None:
        """The login reached its deadline (call with the lock held, or before anything runs)."""
        self._needs_login(self._relogin.lapse(grant))

    # -- state changes -------------------------------------------------------------------

    def _needs_login(self, message: str) -> None:
        """The refresh token is dead: forgotten here and on disk, until someone logs in again."""
        self._set(RECONNECT_NEEDED, self._save(RECONNECT_NEEDED, message, None), None)

    def _commit(self, grant: Grant) -> None:
        message = self._save(CONNECTED, "connected", grant)
        self._add_secret(grant.access_token)
        self._add_secret(grant.refresh_token)
        self._set(CONNECTED, message, grant)

    def _save(self, state: int, message: str, grant: Grant | None) -> str:
        """Persists; on a disk error the change is kept in memory anyway (IMS has already
        rotated: dropping the new token would lose the connection at once) and said in the message."""
        self._check_open()
        try:
            self._store.save(to_record(state, message, grant))
        except OSError as exc:
            self._log.error("cannot save the token store: %s", exc.strerror)
            return f"{message}; the tokens cannot be saved ({exc.strerror}): a restart would need a reconnect"
        return message

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable(f"{frameio_name(self.name)} is being rebuilt or removed (a config reload); try again")

    def _set(self, state: auth_pb2.AuthState, message: str, grant: Grant | None) -> None:
        self._state, self._message, self._grant = state, message, grant
        self._changed.set()
        self._publish(self.status())

    async def _add_identity(self, grant: Grant) -> None:
        identity = await self._identify(grant.access_token)
        async with self._lock:
            current = self._grant
            named = dataclasses.replace(current, user_name=identity.name, user_email=identity.email,
                                        account_id=identity.account_id) if current else None
            if named is not None and self._state == CONNECTED and grant.same_connection(current) and named != current:
                self._commit(named)  # written only when the lookup taught us something

    async def _revoke(self, grant: Grant) -> bool:
        """Best effort: True when IMS confirmed every revocation."""
        confirmed = True
        for token, hint in ((grant.access_token, "access_token"), (grant.refresh_token, "refresh_token")):
            if not token:
                continue
            try:
                await self._ims.revoke(token, hint)
            except ImsError as exc:
                self._log.warning("revoking the %s at IMS failed (%s)", hint.replace("_", " "), exc)
                confirmed = False
        return confirmed


def _earliest(*delays: float | None) -> float | None:
    known = [delay for delay in delays if delay is not None]
    return min(known) if known else None


def _retrieve(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()
