"""The job API for other tools, end to end: a real watcher serving WatcherService on its API
port (TLS, the watcher's certificate) to callers with API keys."""

from __future__ import annotations

import asyncio
import sys

import grpc
import pytest

from postflow.core.clients import Clients
from postflow.testing.api_port import ApiPort, watcher_with_api_port
from postflow.testing.media import write_media
from postflow.testing.processes import child_env
from postflow.testing.rpc import rpc_error
from postflow.v1 import watcher_pb2, watcher_pb2_grpc

# The README's client: nothing but grpcio (and the stubs generated from protos/postflow/v1).
CLIENT = """\
import os, sys
import grpc
from postflow.v1 import watcher_pb2, watcher_pb2_grpc  # generated from protos/postflow/v1/*.proto

address, ca_file = sys.argv[1:3]  # e.g. localhost:50054 ca.pem (<state_dir>/certs/ca.pem)
credentials = grpc.composite_channel_credentials(
    grpc.ssl_channel_credentials(open(ca_file, "rb").read()),
    grpc.access_token_call_credentials(os.environ["POSTFLOW_API_KEY"]))  # authorization: Bearer <key>
with grpc.secure_channel(address, credentials, options=[("grpc.ssl_target_name_override", "watcher")]) as channel:
    for job in watcher_pb2_grpc.WatcherServiceStub(channel).ListJobs(watcher_pb2.ListJobsRequest()).jobs:
        print(job.id, job.path)
"""


async def create_key(api: ApiPort, name: str, *scopes: str) -> str:
    """A new key, made as the admin (the CLI's credential) on the watcher's gRPC address."""
    async with Clients(api.config) as admin:
        created = await admin.watcher.CreateApiKey(watcher_pb2.CreateApiKeyRequest(name=name, scopes=scopes),
                                                  timeout=10)
    return created.key


async def revoke_key(api: ApiPort, name: str) -> None:
    async with Clients(api.config) as admin:
        await admin.watcher.RevokeApiKey(watcher_pb2.RevokeApiKeyRequest(name=name), timeout=10)


@pytest.mark.asyncio
async def test_a_plain_grpcio_client_lists_jobs_with_a_key(tmp_path):
    async with watcher_with_api_port(tmp_path) as api:
        write_media(api.env.root / "SQ01" / "shot.mov", 10_000)
        key = await create_key(api, "mam", "jobs:write")
        async with api.channel(key) as channel:
            job = await watcher_pb2_grpc.WatcherServiceStub(channel).SubmitFile(
                watcher_pb2.SubmitFileRequest(path="SQ01/shot.mov"))
        script = tmp_path / "client.py"
        script.write_text(CLIENT)
        assert len(CLIENT.splitlines()) <= 11
        client = await asyncio.create_subprocess_exec(
            sys.executable, str(script), api.address, str(api.certs.ca),
            env={**child_env(), "POSTFLOW_API_KEY": key}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(client.communicate(), 60)
        assert client.returncode == 0, err.decode()
        assert f"{job.id} SQ01/shot.mov" in out.decode().splitlines()


@pytest.mark.asyncio
async def test_the_api_port_speaks_tls_only(tmp_path):
    """A key is never sent in the clear: the API port has no plaintext side."""
    async with watcher_with_api_port(tmp_path) as api:
        async with grpc.aio.insecure_channel(api.address) as plain:
            error = await rpc_error(watcher_pb2_grpc.WatcherServiceStub(plain).GetStats(
                watcher_pb2.GetStatsRequest(), timeout=5))
        assert error.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.asyncio
async def test_keys_scopes_and_revocation_through_the_guard(tmp_path):
    async with watcher_with_api_port(tmp_path) as api:
        write_media(api.env.root / "in.mov", 10_000)
        reader = await create_key(api, "reader", "jobs:read")
        writer = await create_key(api, "writer", "jobs:write")
        keeper = await create_key(api, "keeper", "admin")
        submit = watcher_pb2.SubmitFileRequest(path="in.mov")
        async with api.channel(reader) as as_reader, api.channel(writer) as as_writer, \
                api.channel(keeper) as as_keeper, api.channel("pfk_" + "A" * 43) as as_stranger, \
                api.keyless_channel() as keyless:
            reading, writing, keeping = (watcher_pb2_grpc.WatcherServiceStub(c) for c in (as_reader, as_writer,
                                                                                           as_keeper))
            # jobs:read reads but does not submit or cancel
            await reading.ListJobs(watcher_pb2.ListJobsRequest())
            error = await rpc_error(reading.SubmitFile(submit))
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED
            error = await rpc_error(reading.CancelJob(watcher_pb2.CancelJobRequest(id="x")))
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED
            # jobs:write does; it does not manage keys; admin does
            job = await writing.SubmitFile(submit)
            await writing.CancelJob(watcher_pb2.CancelJobRequest(id=job.id))
            error = await rpc_error(writing.ListApiKeys(watcher_pb2.ListApiKeysRequest()))
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED
            created = await keeping.CreateApiKey(watcher_pb2.CreateApiKeyRequest(name="made", scopes=["jobs:read"]))
            assert created.key.startswith("pfk_")
            # no key, a wrong key
            for channel in (keyless, as_stranger):
                error = await rpc_error(watcher_pb2_grpc.WatcherServiceStub(channel).ListJobs(
                    watcher_pb2.ListJobsRequest()))
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED

            # revocation at once: the key's open stream ends, its next call is refused
            stream = writing.WatchJobs(watcher_pb2.WatchJobsRequest())
            assert (await stream.read()).kind == watcher_pb2.JOB_EVENT_KIND_SNAPSHOT
            await revoke_key(api, "writer")
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                while True:
                    await asyncio.wait_for(stream.read(), 10)
            assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
            error = await rpc_error(writing.ListJobs(watcher_pb2.ListJobsRequest()))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in error.details()
            await reading.ListJobs(watcher_pb2.ListJobsRequest())  # the other keys still work
