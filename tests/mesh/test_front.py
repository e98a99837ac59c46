"""The front refuses bad certificates at the handshake and cuts off a host that keeps
presenting them, while good callers are answered; plaintext health keeps working."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import grpc
import pytest

from postflow.core.mesh.certs import CertPaths
from postflow.core.rpc import check_health
from postflow.testing.polling import wait_for
from postflow.v1 import auth_pb2, auth_pb2_grpc
from tests.mesh.conftest import Mesh, expired, other_ca, unknown_name

FLOODER = "127.0.0.2"  # loopback too, but another host to the front


async def token(channel: grpc.aio.Channel) -> str:
    response = await auth_pb2_grpc.AuthServiceStub(channel).GetAccessToken(auth_pb2.GetAccessTokenRequest(),
                                                                           timeout=5)
    return response.access_token


@pytest.mark.asyncio
async def test_plaintext_health_passes_the_front(mesh):
    assert await check_health(mesh.address("auth")) == "SERVING"


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", ["wrong-ca", "expired", "unknown-name"])
async def test_bad_certificates_are_refused_at_the_handshake(mesh, tmp_path, caplog, bad):
    make = {"wrong-ca": lambda: other_ca(tmp_path / "other"), "expired": lambda: expired(mesh, tmp_path / "old"),
            "unknown-name": lambda: unknown_name(mesh, tmp_path / "odd")}[bad]
    paths = await asyncio.to_thread(make)
    identity = "mallory" if bad == "unknown-name" else "watcher"
    front = mesh.servers["auth"].front
    async with await mesh.channel("auth", identity, paths) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await token(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    await wait_for(lambda: front.failed_handshakes >= 1, message="a failed handshake counted")
    assert mesh.fakes.auth.requests == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "postflow.core.mesh.front"]
    assert warnings and all("refused 127.0.0.1:" in w for w in warnings)
    assert "BEGIN" not in caplog.text


async def bad_handshake(port: int, context: ssl.SSLContext) -> None:
    """One TLS connection from FLOODER presenting a certificate the front refuses, to its end."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="auth",
                                                       local_addr=(FLOODER, 0))
        try:
            await reader.read()  # TLS 1.3: the refusal arrives after the client's side is done
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def client_context(paths: CertPaths, ca: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca.decode())
    context.load_cert_chain(paths.cert("watcher"), paths.key("watcher"))
    context.set_alpn_protocols(["h2"])
    return context


@pytest.mark.asyncio
async def test_a_flood_of_bad_certificates_is_cut_off_while_good_callers_are_answered(mesh: Mesh, tmp_path, caplog):
    front = mesh.servers["auth"].front
    assert front is not None
    limit = front.limiter.per_window
    wrong = await asyncio.to_thread(other_ca, tmp_path / "other")
    context = client_context(wrong, (await mesh.credentials("auth")).ca)
    await asyncio.gather(*(bad_handshake(mesh.ports["auth"], context) for _ in range(limit)))
    await wait_for(lambda: front.failed_handshakes == limit, message=f"{limit} failed handshakes")
    assert front.limiter.exceeded(FLOODER)
    async with await mesh.channel("auth", "watcher") as good:
        flood = asyncio.gather(*(bad_handshake(mesh.ports["auth"], context) for _ in range(3 * limit)))
        assert await token(good) == "a-frameio-token"
        await flood
    assert front.failed_handshakes == limit  # the rest were closed before any handshake
    warnings = [r for r in caplog.records if r.name == "postflow.core.mesh.front"]
    assert 1 <= len(warnings) <= 2  # rate-limited: not one a refusal
    assert FLOODER in warnings[0].getMessage()
