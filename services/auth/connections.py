"""The Frame.io connections auth holds, by name (`connections_of(config)`): each with its own
OAuth client, custody (token store, refresh, re-login deadline) and logins in progress.

The default connection keeps the token store of before there were several
(`<state_dir>/auth/tokens.{0,1}.enc`); another's is `tokens-<name>.{0,1}.enc` beside it.

`apply` takes a new set of connections without a restart: one added is loaded and started,
one removed is stopped (its tokens stay on disk: adding it back restores its login) and
announced as REMOVED, one whose settings changed is stopped, then built again from the same
store; the others are left alone."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from postflow.core.config import AuthConfig, ConfigError, FrameioConfig
from postflow.core.errors import InvalidArgument, NotFound
from postflow.core.pipelines import DEFAULT, ConnectionConfig
from postflow.v1 import auth_pb2

from .custody import SERVER_TO_SERVER, WEB_APP, Custody
from .identity import IdentityLookup
from .ims import ImsClient
from .login import WebLogin
from .relogin import Relogin
from .status_feed import status_feed
from .token_store import SLOTS_NAME, TokenStore

log = logging.getLogger(__name__)

Publish = Callable[[auth_pb2.AuthStatus], None]


@dataclass(frozen=True)
class Connection:
    name: str
    config: ConnectionConfig
    custody: Custody
    login: WebLogin


def store_name(connection: str) -> str:
    """The name of a connection's token slots (see the module docstring)."""
    return SLOTS_NAME if connection == DEFAULT else f"{SLOTS_NAME}-{connection}"


def check_clients(connections: dict[str, ConnectionConfig]) -> None:
    """Each connection has an OAuth client (its own, or the `frameio` section's)."""
    for name, connection in connections.items():
        key = "frameio" if name == DEFAULT else f"connections.{name}"
        if not connection.client_id:
            raise ConfigError(f"{key}.client_id: required (from the Adobe Developer Console)")
        if not connection.client_secret:
            raise ConfigError(f"{key}.client_secret: required with {key}.client_id")


def removed(connection: str) -> auth_pb2.AuthStatus:
    return auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_REMOVED, connection=connection,
                               message="removed from the config")


def client_settings(frameio: FrameioConfig, connection: ConnectionConfig) -> FrameioConfig:
    """The `frameio` section with the connection's client and account in it."""
    return dataclasses.replace(frameio, client_id=connection.client_id, client_secret=connection.client_secret,
                               account_id=connection.account_id,
                               client_credentials=bool(connection.client_credentials),
                               oauth_web_app=frameio.oauth_web_app or not connection.client_credentials)


@dataclass(frozen=True)
class ConnectionBuilder:
    """What every connection shares: the HTTP client, the `frameio` and `auth` settings, the
    store's folder and key, and the log's secret mask."""

    http: httpx.AsyncClient
    frameio: FrameioConfig
    settings: AuthConfig
    directory: Path
    key: bytes
    add_secret: Callable[[str], None]

    def build(self, name: str, config: ConnectionConfig, publish: Publish) -> Connection:
        """A connection with its store loaded (synchronously, as the store is written)."""
        self.add_secret(config.client_secret)
        settings = client_settings(self.frameio, config)
        ims = ImsClient(self.http, settings)
        custody = Custody(
            kind=SERVER_TO_SERVER if config.client_credentials else WEB_APP, client_id=config.client_id,
            store=TokenStore(self.directory, self.key, store_name(name)), ims=ims,
            identify=IdentityLookup(self.http, settings.api_base_url, config.account_id),
            refresh_margin_s=self.settings.refresh_margin_s, auto_refresh=settings.auto_token_refresh,
            relogin=Relogin(self.settings.refresh_token_lifetime_s, self.settings.relogin_warning_s, connection=name),
            add_secret=self.add_secret, name=name, publish=publish,
        )
        custody.load()
        return Connection(name, config, custody, WebLogin(ims, settings.redirect_uri, self.settings.login_ttl_s))


class Connections:
    def __init__(self, builder: ConnectionBuilder) -> None:
        self._builder = builder
        self._all: dict[str, Connection] = {}
        self._feed = status_feed()
        self._started = False
        self._applying = asyncio.Lock()

    # -- life cycle ----------------------------------------------------------------------

    def open(self, connections: dict[str, ConnectionConfig]) -> None:
        check_clients(connections)
        self._all = {name: self._build(name, config) for name, config in connections.items()}

    def start(self) -> None:
        self._started = True
        for connection in self._all.values():
            connection.custody.start()

    def end_watches(self) -> None:
        """Ends every WatchStatus stream, so that the server's graceful stop need not wait."""
        self._feed.close()

    async def stop(self) -> None:
        connections, self._all = list(self._all.values()), {}
        await asyncio.gather(*(connection.custody.stop() for connection in connections))

    async def apply(self, connections: dict[str, ConnectionConfig]) -> None:
        """Takes a new set of connections (see the module docstring); refuses one without a
        client (ConfigError) before changing anything."""
        check_clients(connections)
        async with self._applying:
            kept = {name: current for name, current in self._all.items() if connections.get(name) == current.config}
            ending = [current for name, current in self._all.items() if name not in kept]
            # Out of the table first (their late statuses are not published), then stopped: a
            # changed connection's new custody reads the store once the old one is done with it.
            self._all = kept
            await asyncio.gather(*(connection.custody.stop() for connection in ending))
            for connection in ending:
                if connection.name not in connections:
                    log.info("connection %s removed", connection.name)
                    self._feed.publish(removed(connection.name))
            rebuilt = {connection.name for connection in ending if connection.name in connections}
            added = {name: self._build(name, config) for name, config in connections.items() if name not in kept}
            self._all = {name: kept.get(name) or added[name] for name in connections}
            for name, connection in added.items():
                log.info("connection %s %s", name, "rebuilt" if name in rebuilt else "added")
                self._feed.publish(connection.custody.status())
                if self._started:
                    connection.custody.start()

    def _build(self, name: str, config: ConnectionConfig) -> Connection:
        built: Connection | None = None

        def publish(status: auth_pb2.AuthStatus) -> None:
            if built is not None and self._all.get(name) is built:
                self._feed.publish(status)

        built = self._builder.build(name, config, publish)
        return built

    # -- what the RPCs call --------------------------------------------------------------

    def get(self, name: str) -> Connection:
        """The connection named (`""`: the default one); NOT_FOUND naming the known ones."""
        found = self._all.get(name or DEFAULT)
        if found is None:
            raise NotFound(f"connection {name or DEFAULT!r}: unknown (known: {', '.join(self._all) or 'none'})")
        return found

    def completing(self, state: str, name: str) -> Connection:
        """The connection whose login issued `state`. A state no connection issued is left to
        the named connection's login to refuse, with its reasons."""
        owner = next((connection for connection in self._all.values() if connection.login.holds(state)), None)
        if owner is None:
            return self.get(name)
        if name and name != owner.name:
            raise InvalidArgument(f"state: was issued to connection {owner.name!r}, not {name!r}")
        return owner

    def statuses(self) -> list[auth_pb2.AuthStatus]:
        return [connection.custody.status() for connection in self._all.values()]

    async def watch(self) -> AsyncIterator[auth_pb2.AuthStatus]:
        """One current status per connection, then each change (see status_feed)."""
        with self._feed.subscribe(self.statuses()) as subscription:
            async for status in subscription:
                yield status
