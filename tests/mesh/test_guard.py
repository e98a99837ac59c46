"""Who gets what through the front and the guard: a caller without a certificate gets health
only, a certificate is allowed what the table gives its identity, API keys only over TLS, and
the audit log keeps refused calls and allowed mutating ones, never a secret."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from postflow.core.mesh.identity import certificate
from postflow.testing.polling import wait_for
from postflow.v1 import auth_pb2, auth_pb2_grpc, watcher_pb2, watcher_pb2_grpc
from tests.mesh.conftest import READER_KEY
from tests.mesh.test_policy import every_method

SERVICES = {"auth": "AuthService", "watcher": "WatcherService", "streamer": "StreamerService"}


async def status_of(channel: grpc.aio.Channel, method: str, metadata=()) -> grpc.StatusCode:
    """The status of `method` called with an empty request (a stream of one, whatever its shape)."""
    call = channel.stream_stream(method)(iter([b""]), timeout=5, metadata=metadata)
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def health(channel: grpc.aio.Channel) -> str:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["plaintext", "tls-without-certificate"])
async def test_a_client_without_a_certificate_gets_nothing_from_any_service_but_health(mesh, transport):
    for service, name in SERVICES.items():
        async with (grpc.aio.insecure_channel(mesh.address(service)) if transport == "plaintext"
                    else await mesh.channel(service)) as channel:
            assert await health(channel) == "SERVING"
            methods = [m for m in every_method() if m.startswith(f"/postflow.v1.{name}/")]
            statuses = {method: await status_of(channel, method) for method in methods}
            assert statuses == dict.fromkeys(methods, grpc.StatusCode.UNAUTHENTICATED)
            reflection = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
            assert await status_of(channel, reflection) == grpc.StatusCode.UNAUTHENTICATED
    assert mesh.fakes.auth.requests == []  # not one call reached a handler


@pytest.mark.asyncio
async def test_a_valid_certificate_of_the_wrong_service_is_refused_the_access_token(mesh):
    async with await mesh.channel("auth", "dashboard") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await auth_pb2_grpc.AuthServiceStub(channel).GetAccessToken(auth_pb2.GetAccessTokenRequest(), timeout=5)
        status = await auth_pb2_grpc.AuthServiceStub(channel).GetStatus(auth_pb2.GetAuthStatusRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.details() == "dashboard may not call GetAccessToken"
    assert status.state == auth_pb2.AUTH_STATE_CONNECTED  # what the dashboard may ask, it gets
    denied = [e for e in mesh.audit.entries if e.outcome == "denied"]
    assert [(e.who, e.action, e.service) for e in denied] == [("dashboard", "GetAccessToken", "auth")]
    assert denied[0].peer.startswith("127.0.0.1:")
    async with await mesh.channel("auth", "watcher") as channel:
        token = await auth_pb2_grpc.AuthServiceStub(channel).GetAccessToken(auth_pb2.GetAccessTokenRequest(),
                                                                            timeout=5)
    assert token.access_token == "a-frameio-token"


@pytest.mark.asyncio
async def test_handlers_know_their_caller(mesh):
    for identity in ("watcher", "admin"):
        async with await mesh.channel("auth", identity) as channel:
            await auth_pb2_grpc.AuthServiceStub(channel).GetStatus(auth_pb2.GetAuthStatusRequest(), timeout=5)
    assert mesh.fakes.auth.callers == [certificate("watcher"), certificate("admin")]


@pytest.mark.asyncio
async def test_mutating_calls_are_audited_with_what_they_act_on_and_no_secret(mesh):
    async with await mesh.channel("auth", "admin") as auth, await mesh.channel("watcher", "dashboard") as watcher, \
            await mesh.channel("watcher", "streamer") as streamer:
        with pytest.raises(grpc.aio.AioRpcError):  # no login was begun
            await auth_pb2_grpc.AuthServiceStub(auth).CompleteAuthorization(
                auth_pb2.CompleteAuthorizationRequest(code="the-secret-code", state="s", binding="b"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):  # no such job
            await watcher_pb2_grpc.WatcherServiceStub(watcher).RetryJob(watcher_pb2.RetryJobRequest(id="job-9"),
                                                                        timeout=5)
        await watcher_pb2_grpc.WatcherServiceStub(watcher).ListJobs(watcher_pb2.ListJobsRequest(), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await watcher_pb2_grpc.WatcherServiceStub(streamer).SubmitFile(
                watcher_pb2.SubmitFileRequest(path="reel/a.mov"), timeout=5)
    entries = [(e.who, e.action, e.what, e.outcome) for e in mesh.audit.entries]
    assert entries == [("admin", "CompleteAuthorization", "", "failed: INVALID_ARGUMENT"),
                       ("dashboard", "RetryJob", "job-9", "failed: NOT_FOUND"),
                       ("streamer", "SubmitFile", "reel/a.mov", "denied")]
    assert "the-secret-code" not in repr(mesh.audit.entries)


@pytest.mark.asyncio
async def test_api_keys_are_refused_over_plaintext_and_answered_by_scope_over_tls(mesh):
    bearer = (("authorization", f"Bearer {READER_KEY}"),)
    list_jobs, submit = "/postflow.v1.WatcherService/ListJobs", "/postflow.v1.WatcherService/SubmitFile"
    async with grpc.aio.insecure_channel(mesh.address("watcher")) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await watcher_pb2_grpc.WatcherServiceStub(plain).ListJobs(watcher_pb2.ListJobsRequest(), timeout=5,
                                                                      metadata=bearer)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "TLS only" in (refused.value.details() or "")
    async with await mesh.channel("watcher") as tls:
        assert await status_of(tls, list_jobs, bearer) == grpc.StatusCode.OK
        assert await status_of(tls, submit, bearer) == grpc.StatusCode.PERMISSION_DENIED
        wrong = (("authorization", "Bearer pf_not_a_key"),)
        assert await status_of(tls, list_jobs, wrong) == grpc.StatusCode.UNAUTHENTICATED
        assert await status_of(tls, list_jobs, (("authorization", "Basic eA=="),)) == grpc.StatusCode.UNAUTHENTICATED
    async with await mesh.channel("auth") as tls:  # only the watcher takes API keys
        assert await status_of(tls, "/postflow.v1.AuthService/GetStatus", bearer) == grpc.StatusCode.UNAUTHENTICATED
    await wait_for(lambda: any(e.who == "key:render-farm" and e.outcome == "denied" for e in mesh.audit.entries),
                   message="the key's refused SubmitFile audited")


@pytest.mark.asyncio
async def test_the_person_the_dashboard_acts_for_is_audited_and_believed_from_the_dashboard_only(mesh):
    acting = (("x-postflow-actor", "alice@example.com"),)
    for identity in ("dashboard", "admin"):
        async with await mesh.channel("watcher", identity) as watcher:
            with pytest.raises(grpc.aio.AioRpcError):  # no such job
                await watcher_pb2_grpc.WatcherServiceStub(watcher).RetryJob(
                    watcher_pb2.RetryJobRequest(id="job-9"), timeout=5, metadata=acting)
    entries = [(e.who, e.action, e.what) for e in mesh.audit.entries]
    assert entries == [("dashboard for alice@example.com", "RetryJob", "job-9"), ("admin", "RetryJob", "job-9")]
