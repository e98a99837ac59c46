"""Must show: after an end-to-end life of the auth process (login, refreshes, a refused
forgery, a revoked grant, a reconnect, logout) at DEBUG level, no log line, state file,
status message or gRPC error detail holds a token the emulator issued or the client secret."""

from __future__ import annotations

import pytest

from postflow.testing.auth import FORCE, login, process_harness, refreshes, refreshes_reached, stored_record, wait_state
from postflow.testing.emulator import issued_tokens, revoke_at_ims, set_faults
from postflow.testing.polling import wait_for
from postflow.testing.rpc import rpc_error
from postflow.v1 import auth_pb2


@pytest.mark.asyncio
async def test_no_token_or_secret_in_logs_state_or_messages(tmp_path, emulator):
    await set_faults(emulator.url, {"access_token_ttl": 1})
    said: list[str] = []  # every status and error text a client or the dashboard could see
    async with process_harness(tmp_path, emulator.url, log_level="DEBUG") as harness:
        stub, config = harness.stub, harness.config
        watch = stub.WatchStatus(auth_pb2.WatchAuthStatusRequest())
        said.append(str(await watch.read()))
        target = refreshes(await issued_tokens(emulator.url)) + 3
        await wait_for(lambda: refreshes_reached(emulator.url, target), timeout=20)
        old = await stub.GetAccessToken(auth_pb2.GetAccessTokenRequest())
        await stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True, rejected_token=old.access_token))
        forged = await rpc_error(stub.CompleteAuthorization(auth_pb2.CompleteAuthorizationRequest(
            code="x" * 32, state="y" * 43, binding="z")))
        said.append(forged.details())
        await revoke_at_ims(emulator.url, stored_record(config)["grant"]["refresh_token"])
        said.append((await rpc_error(stub.GetAccessToken(FORCE))).details())
        said.append(str(await wait_state(stub, auth_pb2.AUTH_STATE_RECONNECT_NEEDED)))
        said.append(str(await login(stub)))
        said.append(str(await stub.Disconnect(auth_pb2.DisconnectRequest())))
        watch.cancel()
    issued = {t["value"] for t in await issued_tokens(emulator.url)}
    assert len(issued) >= 10
    log = (tmp_path / "auth.log").read_text()
    assert "access token refreshed" in log and " DEBUG " in log
    texts = {"auth.log": log, "messages": "\n".join(said)}
    texts.update({str(p): p.read_bytes().decode("latin-1") for p in config.state_path.rglob("*") if p.is_file()})
    leaked = [(where, secret[:6]) for where, text in texts.items()
              for secret in issued | {config.frameio.client_secret} if secret in text]
    assert leaked == []
