"""Shared by the auth tests: a config pointing at an emulator, the service in-process or as a
process, the OAuth web-app flow driven like a browser, and the emulator's token ledger."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
from cryptography.fernet import Fernet

from postflow.core.config import Config, load_config, write_config
from postflow.core.logs import SecretMask
from postflow.core.service import Runtime
from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env
from postflow.testing.rpc import rpc_error, serving
from postflow.v1 import auth_pb2, auth_pb2_grpc
from services.auth.server import AuthService, build_service
from services.auth.token_store import TokenStore

REDIRECT_URI = "http://127.0.0.1:9/auth/callback"  # never followed: the tests read the Location
BINDING = "sha256-of-a-browser-cookie"


def config_dict(state_dir: Path, emulator_url: str, *, auth: dict | None = None, frameio: dict | None = None,
                port: int | None = None) -> dict:
    return {
        "frameio": {"client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET, "redirect_uri": REDIRECT_URI,
                    "api_base_url": emulator_url, "ims_base_url": emulator_url, "request_timeout_s": 10,
                    **(frameio or {})},
        "auth": {"token_key": Fernet.generate_key().decode(), **(auth or {})},
        "services": {"auth": f"127.0.0.1:{port or free_port()}"},
        "state_dir": str(state_dir),
    }


def make_config(tmp_path: Path, emulator_url: str, **kwargs) -> Config:
    path = tmp_path / "config.json"
    write_config(config_dict(tmp_path / "state", emulator_url, **kwargs), path)
    return load_config(path, env={})


def token_store(config: Config) -> TokenStore:
    return TokenStore(config.state_path / "auth", config.auth.token_key.encode())


def token_files(config: Config) -> list[Path]:
    return [path for path in token_store(config).paths if path.exists()]


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


async def login(stub: auth_pb2_grpc.AuthServiceStub, binding: str = BINDING) -> auth_pb2.AuthStatus:
    begun = await stub.BeginAuthorization(auth_pb2.BeginAuthorizationRequest(binding=binding))
    async with httpx.AsyncClient(timeout=10) as http:
        code, state = await authorize(http, begun.authorize_url)
    assert state == begun.state
    return await stub.CompleteAuthorization(auth_pb2.CompleteAuthorizationRequest(code=code, state=state,
                                                                                   binding=binding))


async def issued_tokens(emulator_url: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{emulator_url}/_emulator/tokens")
        response.raise_for_status()
        return response.json()["tokens"]


def refreshes(tokens: list[dict]) -> int:
    return sum(1 for t in tokens if t["kind"] == "access" and t["grant_type"] == "refresh_token")


async def refreshes_reached(emulator_url: str, count: int) -> bool:
    return refreshes(await issued_tokens(emulator_url)) >= count


async def revoke_at_ims(emulator_url: str, token: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(f"{emulator_url}/ims/revoke", data={
            "token": token, "client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET})
        response.raise_for_status()


async def fault(emulator_url: str, spec: dict) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        (await http.post(f"{emulator_url}/_emulator/faults", json=spec)).raise_for_status()


async def me_status(http: httpx.AsyncClient, emulator_url: str, access_token: str) -> int:
    response = await http.get(f"{emulator_url}/v4/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


def stored_record(config: Config) -> dict | None:
    return token_store(config).load()


class AuthProcess:
    """`python -m services.auth -c FILE` with its stderr kept (for the leak scan)."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.auth", "-c", str(self.config_path), env=child_env(),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def terminate(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def wait_state(stub: auth_pb2_grpc.AuthServiceStub, state: int, timeout: float = 20) -> auth_pb2.AuthStatus:
    async def reached():
        with contextlib.suppress(grpc.aio.AioRpcError):
            status = await stub.GetStatus(auth_pb2.GetAuthStatusRequest(), timeout=2)
            return status if status.state == state else None
        return None

    return await wait_for(reached, timeout=timeout, interval=0.05, message=auth_pb2.AuthState.Name(state))


class HoldingProxy:
    """A loopback HTTP/1.1 proxy in front of the emulator's IMS that can hold the next refresh
    either before IMS sees it or after IMS has answered, so a kill lands exactly there."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self.phase: str | None = None  # "before" | "after" | None
        self.holding = asyncio.Event()
        self._release = asyncio.Event()
        self._drop = False
        self._http = httpx.AsyncClient(timeout=10)
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.release()
        self._server.close()
        await self._http.aclose()

    def hold_next(self, phase: str) -> None:
        self.phase, self.holding, self._release = phase, asyncio.Event(), asyncio.Event()
        self._drop = False

    def release(self, drop: bool = False) -> None:
        """Lets the held call go on, or drops it (its client died: it never reaches IMS)."""
        self.phase, self._drop = None, drop
        self._release.set()

    async def _hold(self, phase: str) -> None:
        if self.phase == phase:
            self.holding.set()
            await self._release.wait()
            if self._drop:
                raise ConnectionResetError("dropped")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ", 2)
                headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in head[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                refresh = b"grant_type=refresh_token" in body
                if refresh:
                    await self._hold("before")
                response = await self._http.request(method, self.upstream + target, content=body,
                                                     headers={"content-type": headers.get("content-type", "")})
                if refresh:
                    await self._hold("after")
                kept = "".join(f"{k}: {v}\r\n" for k, v in response.headers.items()
                               if k not in ("content-length", "transfer-encoding", "connection"))
                writer.write(f"HTTP/1.1 {response.status_code} -\r\n{kept}content-length: "
                             f"{len(response.content)}\r\n\r\n".encode("latin-1") + response.content)
                await writer.drain()
        writer.close()


FORCE = auth_pb2.GetAccessTokenRequest(force_refresh=True)


@dataclass
class Harness:
    """An auth process connected through the emulator, with what the process tests check."""

    emulator_url: str
    config: Config
    process: AuthProcess
    stub: auth_pb2_grpc.AuthServiceStub
    http: httpx.AsyncClient

    async def kill_and_restart(self) -> str:
        """SIGKILL, then start again; returns the emulator's state of the stored refresh token."""
        self.process.kill()
        await self.process.wait()
        stored = stored_record(self.config)["grant"]["refresh_token"]
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
    process = AuthProcess(tmp_path / "config.json", tmp_path / "auth.log")
    await process.start()
    try:
        async with grpc.aio.insecure_channel(config.services.auth) as channel, \
                httpx.AsyncClient(timeout=10) as http:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            await wait_for(lambda: serving(config.services.auth), timeout=30, message="auth SERVING")
            await login(stub)
            yield Harness(emulator_url, config, process, stub, http)
    finally:
        await process.terminate()
