"""The auth service under test: a config pointing at an emulator, the service in this event loop
or as a process (connected, with what the crash tests check), the OAuth web-app login driven
like a browser, and refreshes counted in the emulator's token ledger."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
from cryptography.fernet import Fernet

from postflow.core.config import Config, load_config, write_config
from postflow.core.logs import SecretMask
from postflow.core.pipelines import DEFAULT
from postflow.core.service import Runtime
from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from postflow.testing.emulator import issued_tokens
from postflow.testing.mesh import MESH_OFF
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import ServiceProcess
from postflow.testing.rpc import rpc_error, serving
from postflow.v1 import auth_pb2, auth_pb2_grpc
from services.auth.connections import store_name
from services.auth.server import AuthService, build_service
from services.auth.token_store import TokenStore

REDIRECT_URI = "http://127.0.0.1:9/auth/callback"  # never followed: the tests read the Location
BINDING = "sha256-of-a-browser-cookie"


def config_dict(state_dir: Path, emulator_url: str, *, auth: dict | None = None, frameio: dict | None = None,
                port: int | None = None, connections: dict | None = None) -> dict:
    """A config for auth against the emulator; `connections` beside the default one, if any."""
    return {
        "frameio": {"client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET, "redirect_uri": REDIRECT_URI,
                    "api_base_url": emulator_url, "ims_base_url": emulator_url, "request_timeout_s": 10,
                    **(frameio or {})},
        "auth": {"token_key": Fernet.generate_key().decode(), **(auth or {})},
        "services": {"auth": f"127.0.0.1:{port or free_port()}"},
        "state_dir": str(state_dir),
        "mesh": MESH_OFF,
        **({"connections": connections} if connections else {}),
    }


def auth_config(tmp_path: Path, emulator_url: str, **kwargs) -> Config:
    path = tmp_path / "config.json"
    write_config(config_dict(tmp_path / "state", emulator_url, **kwargs), path)
    return load_config(path, env={})


def token_store(config: Config, connection: str = DEFAULT) -> TokenStore:
    assert config.auth.token_key is not None, "the config has no token key"
    return TokenStore(config.state_path / "auth", config.auth.token_key.encode(), store_name(connection))


def token_files(config: Config, connection: str = DEFAULT) -> list[Path]:
    return [path for path in token_store(config, connection).paths if path.exists()]


@dataclass
class Running:
    service: AuthService
    stub: auth_pb2_grpc.AuthServiceStub
    secrets: SecretMask
    address: str


@contextlib.asynccontextmanager
async def running_auth(config: Config) -> AsyncIterator[Running]:
    secrets = SecretMask()
    service = build_service(Runtime(config, None, secrets), grpc_address="127.0.0.1:0")
    await service.start()
    address = f"127.0.0.1:{service.grpc_port}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            yield Running(service, auth_pb2_grpc.AuthServiceStub(channel), secrets, address)
    finally:
        await service.stop()


async def authorize(http: httpx.AsyncClient, authorize_url: str) -> tuple[str, str]:
    """What the browser brings back from IMS: (code, state)."""
    response = await http.get(authorize_url, follow_redirects=False)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["code"][0], query["state"][0]


async def login(stub: auth_pb2_grpc.AuthServiceStub, binding: str = BINDING,
                connection: str = "") -> auth_pb2.AuthStatus:
    """Logs the connection in (the default one when ""); the state says which to complete."""
    begun = await stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding=binding, connection=connection))
    async with httpx.AsyncClient(timeout=10) as http:
        code, state = await authorize(http, begun.authorize_url)
    assert state == begun.state
    return await stub.CompleteAuthorization(auth_pb2.CompleteAuthorizationRequest(code=code, state=state,
                                                                                   binding=binding))


def refreshes(tokens: list[dict]) -> int:
    return sum(1 for t in tokens if t["kind"] == "access" and t["grant_type"] == "refresh_token")


async def refreshes_reached(emulator_url: str, count: int) -> bool:
    return refreshes(await issued_tokens(emulator_url)) >= count


async def me_status(http: httpx.AsyncClient, emulator_url: str, access_token: str) -> int:
    response = await http.get(f"{emulator_url}/v4/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


def stored_record(config: Config, connection: str = DEFAULT) -> dict | None:
    return token_store(config, connection).load()


async def wait_state(stub: auth_pb2_grpc.AuthServiceStub, state: int, timeout: float = 20) -> auth_pb2.AuthStatus:
    async def reached():
        with contextlib.suppress(grpc.aio.AioRpcError):
            status = await stub.GetStatus(auth_pb2.GetAuthStatusRequest(), timeout=2)
            return status if status.state == state else None
        return None

    return await wait_for(reached, timeout=timeout, interval=0.05, message=auth_pb2.AuthState.Name(state))


FORCE = auth_pb2.GetAccessTokenRequest(force_refresh=True)


@dataclass
class Harness:
    """An auth process connected through the emulator, with what the process tests check."""

    emulator_url: str
    config: Config
    process: ServiceProcess
    stub: auth_pb2_grpc.AuthServiceStub
    http: httpx.AsyncClient

    async def kill_and_restart(self) -> str:
        """SIGKILL, then start again; returns the emulator's state of the stored refresh token."""
        self.process.kill()
        await self.process.wait()
        record = stored_record(self.config)
        assert record is not None, "no token record stored"
        stored = record["grant"]["refresh_token"]
        state = {t["value"]: t["state"] for t in await issued_tokens(self.emulator_url)}[stored]
        await self.process.start()
        await wait_for(lambda: serving(self.config.services.auth), timeout=30, message="auth SERVING again")
        return state

    async def assert_connected(self) -> None:
        await wait_state(self.stub, auth_pb2.AUTH_STATE_CONNECTED)
        token = await self.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest())
        assert await me_status(self.http, self.emulator_url, token.access_token) == 200
        forced = await self.stub.GetAccessToken(FORCE)  # the stored refresh token still works
        assert await me_status(self.http, self.emulator_url, forced.access_token) == 200

    async def assert_reconnect_needed(self) -> None:
        error = await rpc_error(self.stub.GetAccessToken(FORCE))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "reconnect" in error.details()
        await wait_state(self.stub, auth_pb2.AUTH_STATE_RECONNECT_NEEDED)
        assert (await login(self.stub)).state == auth_pb2.AUTH_STATE_CONNECTED


@contextlib.asynccontextmanager
async def process_harness(tmp_path: Path, emulator_url: str, ims_url: str | None = None,
                          log_level: str = "INFO") -> AsyncIterator[Harness]:
    """`python -m services.auth` with 0.5 s refresh margin, started and connected."""
    raw = config_dict(tmp_path / "state", emulator_url, auth={"refresh_margin_s": 0.5},
                      frameio={"ims_base_url": ims_url or emulator_url})
    write_config({**raw, "log_level": log_level}, tmp_path / "config.json")
    config = load_config(tmp_path / "config.json", env={})
    process = ServiceProcess("services.auth", tmp_path / "config.json", tmp_path / "auth.log")
    await process.start()
    try:
        async with grpc.aio.insecure_channel(config.services.auth) as channel, \
                httpx.AsyncClient(timeout=10) as http:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            await wait_for(lambda: serving(config.services.auth), timeout=30, message="auth SERVING")
            await login(stub)
            yield Harness(emulator_url, config, process, stub, http)
    finally:
        await process.stop()
