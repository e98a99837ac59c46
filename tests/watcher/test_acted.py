"""Who asked for a job's last change (`acted`, `acted_by`): kept in the ledger (an older ledger
gets the columns), and set by the real watcher under mTLS from the person the dashboard acts
for, believed only from the dashboard's certificate."""

from __future__ import annotations

import pytest

from postflow.core.config import load_config
from postflow.core.rpc import open_channel
from postflow.testing.mesh import credentials, make_certs
from postflow.testing.watcher import environment, make_job, older_ledger, opened_ledger, start_watcher
from postflow.v1 import common_pb2, watcher_pb2, watcher_pb2_grpc
from services.watcher import jobs, schema
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat

ALICE = "alice@example.com"
ACTING_FOR_ALICE = (("x-postflow-actor", ALICE),)


@pytest.mark.asyncio
async def test_an_older_ledger_gets_the_columns_and_keeps_who_asked(tmp_path):
    path = tmp_path / "ledger.sqlite"
    job = await older_ledger(path, "ALTER TABLE jobs DROP COLUMN acted; ALTER TABLE jobs DROP COLUMN acted_by")
    async with opened_ledger(path) as reopened:
        stored = await reopened.get(job.id)
        assert stored is not None and (stored.acted, stored.acted_by) == ("", "")
        assert {"acted", "acted_by"} <= set(schema.columns(reopened.db, "jobs"))
        await reopened.change(job.id, lambda j: jobs.cancel_requested(j, ALICE))
        await reopened.change(job.id, lambda j: jobs.cancel(j, "again"))  # no change: cancelled already
    async with opened_ledger(path) as again:
        stored = await again.get(job.id)
    assert stored is not None and (stored.state, stored.acted, stored.acted_by) == (jobs.CANCELLED, "cancelled", ALICE)


@pytest.mark.asyncio
async def test_the_watcher_records_who_retried_or_submitted_from_the_dashboard_s_certificate_only(tmp_path):
    certs = await make_certs(tmp_path / "certs")
    async with environment(tmp_path, mesh={"mtls": True, "certs_dir": str(certs.dir), "api_listen": ""}) as env:
        ledger = Ledger(load_config(env.config_path).state_path / "watcher" / "ledger.sqlite")
        await ledger.open()
        try:
            rows = [make_job(FileStat(name, 10, 1, 1)) for name in ("for-alice.mov", "for-admin.mov")]
            created, _ = await ledger.register(rows, "detected")
            for job in created:
                await ledger.change(job.id, lambda j: jobs.cancel(j, "stopped for the test"))
        finally:
            await ledger.close()
        await start_watcher(env)
        address = f"127.0.0.1:{env.watchers[0].service.grpc_port}"
        retried, submitted = {}, {}
        for identity, job in zip(("dashboard", "admin"), created, strict=True):
            async with open_channel(address, credentials=await credentials(certs, identity),
                                    service="watcher") as channel:
                stub = watcher_pb2_grpc.WatcherServiceStub(channel)
                retried[identity] = await stub.RetryJob(watcher_pb2.RetryJobRequest(id=job.id), timeout=10,
                                                        metadata=ACTING_FOR_ALICE)
                stored = await stub.GetJob(watcher_pb2.GetJobRequest(id=job.id), timeout=10)
                assert (stored.acted, stored.acted_by) == (retried[identity].acted, retried[identity].acted_by)
                (env.root / f"by-{identity}.mov").write_bytes(b"x" * 100)
                submitted[identity] = await stub.SubmitFile(
                    watcher_pb2.SubmitFileRequest(path=f"by-{identity}.mov"), timeout=10, metadata=ACTING_FOR_ALICE)
    assert retried["dashboard"].state == common_pb2.JOB_STATE_QUEUED
    assert (retried["dashboard"].acted, retried["dashboard"].acted_by) == ("retried", ALICE)
    assert (retried["admin"].acted, retried["admin"].acted_by) == ("retried", "")  # the admin acts for nobody
    assert (submitted["dashboard"].acted, submitted["dashboard"].acted_by) == ("submitted", ALICE)
    assert (submitted["admin"].acted, submitted["admin"].acted_by) == ("submitted", "")
