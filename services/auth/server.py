"""The auth service: token custody behind AuthService, SERVING once the store is loaded
(connected or not: "not connected" is a state, not ill health)."""

from __future__ import annotations

import logging

import httpx

from postflow.core.config import require_client
from postflow.core.http import traced_client
from postflow.core.rpc import GrpcServer, bind_address
from postflow.core.service import Runtime
from postflow.v1 import auth_pb2, auth_pb2_grpc

from .custody import SERVER_TO_SERVER, WEB_APP, Custody
from .identity import IdentityLookup
from .ims import ImsClient
from .login import WebLogin
from .servicer import AuthServicer
from .token_store import TokenStore, auth_dir, load_key

log = logging.getLogger(__name__)


def build_service(runtime: Runtime, *, grpc_address: str | None = None) -> AuthService:
    config = runtime.config
    require_client(config)
    store = TokenStore(auth_dir(config), load_key(config))
    return AuthService(runtime, store, grpc_address or bind_address(config.services.auth))


class AuthService:
    def __init__(self, runtime: Runtime, store: TokenStore, grpc_address: str) -> None:
        self.runtime = runtime
        self.store = store
        self.grpc_address = grpc_address
        self.grpc_port = 0
        self.http: httpx.AsyncClient | None = None
        self.custody: Custody | None = None
        self.server: GrpcServer | None = None

    async def start(self) -> None:
        fio = self.runtime.config.frameio
        self.http = traced_client(self.runtime.tracer_provider, timeout=fio.request_timeout_s, retries=1)
        ims = ImsClient(self.http, fio)
        self.custody = Custody(
            kind=SERVER_TO_SERVER if fio.client_credentials else WEB_APP, client_id=fio.client_id,
            store=self.store, ims=ims, identify=IdentityLookup(self.http, fio.api_base_url, fio.account_id),
            refresh_margin_s=self.runtime.config.auth.refresh_margin_s, auto_refresh=fio.auto_token_refresh,
            add_secret=self.runtime.add_secret,
        )
        login = WebLogin(ims, fio.redirect_uri, self.runtime.config.auth.login_ttl_s)
        self.server = GrpcServer(self.runtime.tracer_provider)
        self.server.add(auth_pb2_grpc.add_AuthServiceServicer_to_server, AuthServicer(self.custody, login),
                        auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name)
        self.custody.load()
        self.grpc_port = await self.server.start(self.grpc_address)
        self.custody.start()
        await self.server.set_serving(True)
        log.info("auth listening on port %d", self.grpc_port)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.set_serving(False)
            if self.custody is not None:
                self.custody.end_watches()
            await self.server.stop()
        if self.custody is not None:
            await self.custody.stop()
        if self.http is not None:
            await self.http.aclose()
