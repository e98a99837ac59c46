"""A service in the mesh: it serves its own certificate (clients check its name), refuses to
start without it, and with mesh.mtls off trusts every caller and says so."""

from __future__ import annotations

import logging

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider

from postflow.core.rpc import open_channel
from postflow.core.service import Runtime
from postflow.testing.mesh import credentials, make_certs
from postflow.testing.streamer import TEST_LIMITS, run_streamer_process, start_streamer, stop_streamer, streamer_config
from postflow.v1 import streamer_pb2, streamer_pb2_grpc
from services.streamer.server import build_service


def test_a_service_without_its_certificate_exits_2_naming_the_file_and_the_command(tmp_path):
    result = run_streamer_process(tmp_path, mesh={"mtls": True, "certs_dir": str(tmp_path / "certs")})
    assert result.returncode == 2
    assert f"{tmp_path / 'certs' / 'streamer.pem'}: No such file or directory" in result.stderr
    assert "postflow certs create" in result.stderr


@pytest.mark.asyncio
async def test_clients_check_the_service_s_name_in_its_certificate(tmp_path):
    certs = await make_certs(tmp_path / "certs")
    config = streamer_config(tmp_path, mesh={"mtls": True, "certs_dir": str(certs.dir), "api_listen": ""})
    service = build_service(Runtime(config, TracerProvider()), grpc_address="127.0.0.1:0",
                            http_address="127.0.0.1:0", http_limits=TEST_LIMITS)
    await service.start()
    try:
        address, watcher = f"127.0.0.1:{service.grpc_port}", await credentials(certs, "watcher")
        async with open_channel(address, credentials=watcher, service="streamer") as channel:
            status = await streamer_pb2_grpc.StreamerServiceStub(channel).GetTunnelStatus(
                streamer_pb2.GetTunnelStatusRequest(), timeout=5)
        assert status is not None
        async with open_channel(address, credentials=watcher, service="auth") as channel:  # not who answers
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await streamer_pb2_grpc.StreamerServiceStub(channel).GetTunnelStatus(
                    streamer_pb2.GetTunnelStatusRequest(), timeout=2, wait_for_ready=False)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await service.stop()


@pytest.mark.asyncio
async def test_with_mtls_off_every_caller_is_trusted_and_the_service_says_so(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "postflow.core.service")
    streamer = await start_streamer(streamer_config(tmp_path))
    try:
        status = await streamer.stub.GetTunnelStatus(streamer_pb2.GetTunnelStatusRequest(), timeout=5)
    finally:
        await stop_streamer(streamer)
    assert status is not None
    assert "mesh.mtls is off: the streamer service's gRPC port trusts every caller" in caplog.text
