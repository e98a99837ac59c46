"""The auth service: token custody behind AuthService."""

from __future__ import annotations

import logging

import httpx

from postflow.core.config import require_client
from postflow.core.http import traced_client
from postflow.core.rpc import Servicer, bind_address
from postflow.core.service import GrpcService, Runtime
from postflow.v1 import auth_pb2, auth_pb2_grpc
from services.auth.custody import SERVER_TO_SERVER, WEB_APP, Custody
from services.auth.identity import IdentityLookup
from services.auth.ims import ImsClient
from services.auth.login import WebLogin
from services.auth.relogin import Relogin
from services.auth.servicer import AuthServicer
from services.auth.token_store import TokenStore, auth_dir, load_key

log = logging.getLogger(__name__)


def build_service(runtime: Runtime, *, grpc_address: str | None = None) -> AuthService:
    config = runtime.config
    require_client(config)
    store = TokenStore(auth_dir(config), load_key(config))
    return AuthService(runtime, store, grpc_address or bind_address(config.services.auth))


class AuthService(GrpcService):
    identity = "auth"

    def __init__(self, runtime: Runtime, store: TokenStore, grpc_address: str) -> None:
        super().__init__(runtime, grpc_address)
        self.store = store
        self.http: httpx.AsyncClient | None = None
        self.custody: Custody | None = None
        self.login: WebLogin | None = None

    async def open(self) -> None:
        fio, settings = self.runtime.config.frameio, self.runtime.config.auth
        self.http = traced_client(self.runtime.tracer_provider, timeout=fio.request_timeout_s, retries=1)
        ims = ImsClient(self.http, fio)
        self.custody = Custody(
            kind=SERVER_TO_SERVER if fio.client_credentials else WEB_APP, client_id=fio.client_id,
            store=self.store, ims=ims, identify=IdentityLookup(self.http, fio.api_base_url, fio.account_id),
            refresh_margin_s=settings.refresh_margin_s, auto_refresh=fio.auto_token_refresh,
            relogin=Relogin(settings.refresh_token_lifetime_s, settings.relogin_warning_s),
            add_secret=self.runtime.add_secret,
        )
        self.login = WebLogin(ims, fio.redirect_uri, settings.login_ttl_s)
        self.custody.load()

    def servicers(self) -> list[Servicer]:
        assert self.custody is not None and self.login is not None
        return [Servicer(auth_pb2, auth_pb2_grpc.add_AuthServiceServicer_to_server,
                         AuthServicer(self.custody, self.login))]

    async def start_background(self) -> None:
        assert self.custody is not None
        self.custody.start()

    async def ready(self) -> None:
        """Ready once the token store is loaded (by `open`), connected or not: "not connected"
        is a state the status reports, not ill health."""

    def end_streams(self) -> None:
        if self.custody is not None:
            self.custody.end_watches()

    async def close(self) -> None:
        if self.custody is not None:
            await self.custody.stop()
        if self.http is not None:
            await self.http.aclose()
