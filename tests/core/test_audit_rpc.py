"""ListAudit over gRPC: every service's server answers with its own audit log."""

import grpc
import pytest

from postflow.core.mesh.audit import AuditEntry, audit_path, read_entries
from postflow.core.mesh.identity import Kind, Principal, Scope, certificate
from postflow.core.mesh.policy import RULES, Decision, decide
from postflow.core.protos import timestamp
from postflow.testing.auth import auth_config, running_auth
from postflow.v1 import audit_pb2, audit_pb2_grpc

LIST_AUDIT = "/postflow.v1.AuditService/ListAudit"


@pytest.mark.asyncio
async def test_a_running_service_lists_its_own_audit_entries(tmp_path):
    config = auth_config(tmp_path, "http://127.0.0.1:9")
    async with running_auth(config) as auth:
        for n in range(5):  # what the guard records for the calls it decides on
            auth.service.audit.record(AuditEntry(at=1000.0 + n, who="dashboard", action="Disconnect", what="",
                                                 outcome="ok" if n % 2 else "denied", service="auth",
                                                 peer=f"127.0.0.1:{4000 + n}"))
        async with grpc.aio.insecure_channel(auth.address) as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            everything = (await stub.ListAudit(audit_pb2.ListAuditRequest())).entries
            newest = (await stub.ListAudit(audit_pb2.ListAuditRequest(limit=2))).entries
            recent = (await stub.ListAudit(audit_pb2.ListAuditRequest(since=timestamp(1003.0)))).entries
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListAudit(audit_pb2.ListAuditRequest(limit=5000))
    assert [(e.at.seconds, e.outcome, e.peer) for e in everything] == [
        (1000 + n, "ok" if n % 2 else "denied", f"127.0.0.1:{4000 + n}") for n in range(5)]
    assert [e.at.seconds for e in newest] == [1003, 1004]
    assert [e.at.seconds for e in recent] == [1003, 1004]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "limit" in (refused.value.details() or "")
    assert len(read_entries(audit_path(config.state_path, "auth"))) == 5  # written out by the stop


def test_only_admins_and_the_dashboard_may_read_the_audit_log():
    assert LIST_AUDIT in RULES
    assert decide(certificate("admin"), LIST_AUDIT) == Decision.ALLOW
    assert decide(certificate("dashboard"), LIST_AUDIT) == Decision.ALLOW
    assert decide(certificate("watcher"), LIST_AUDIT) == Decision.DENY
    assert decide(Principal(Kind.API_KEY, "ops", frozenset({Scope.ADMIN})), LIST_AUDIT) == Decision.ALLOW
    assert decide(Principal(Kind.API_KEY, "farm", frozenset({Scope.JOBS_WRITE})), LIST_AUDIT) == Decision.DENY
