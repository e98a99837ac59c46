"""Who did what, through the whole path: a person signed in to the real dashboard (OpenID
Connect at oidc-provider-mock) cancels and retries a job through its REST API; the real watcher,
with mTLS on, believes the `x-postflow-actor` the dashboard sends from its certificate, records
the person on the job (acted_by) and in its audit log ("dashboard for <email>")."""

import json

import httpx
import oidc_provider_mock
import pytest

from postflow.testing.dashboard import csrf
from postflow.testing.polling import wait_for
from postflow.testing.stack import running_stack
from postflow.v1 import watcher_pb2, watcher_pb2_grpc
from tests.dashboard.test_oidc import authorize

ALICE = "alice@studio.example"
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")  # the provider's own authlib use


@pytest.fixture(scope="module")
def provider():
    alice = oidc_provider_mock.User(sub="alice", claims={"email": ALICE, "name": "Alice Operator"})
    with oidc_provider_mock.run_server_in_thread(user_claims=[alice], require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.mark.asyncio
async def test_a_signed_in_operator_s_cancel_and_retry_are_hers_on_the_job_and_in_the_audit_log(tmp_path, provider):
    oidc = {"issuer": provider, "client_id": "postflow", "client_secret": "s3cret",
            "roles": {"operator": [ALICE]}}
    overrides = {"dashboard": {"oidc": oidc}, "mesh": {"mtls": True}}
    async with running_stack(tmp_path, overrides, connect=False) as stack, \
            httpx.AsyncClient(base_url=stack.dashboard_url, timeout=10) as browser:
        await authorize(browser, "alice")
        (stack.watch_root / "SH010.mov").write_bytes(b"x" * 1000)  # Frame.io is not connected: it stays active

        async def listed() -> str:
            jobs = (await browser.get("/api/jobs")).json()["jobs"]
            return jobs[0]["id"] if jobs else ""

        job_id = await wait_for(listed, timeout=10, message="the dropped file's job")
        cancelled = await browser.post(f"/api/jobs/{job_id}/cancel", headers=csrf(browser))
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["state"], cancelled.json()["acted_by"]) == ("cancelled", ALICE)
        retried = await browser.post(f"/api/jobs/{job_id}/retry", headers=csrf(browser))
        assert retried.status_code == 200, retried.text
        async with await stack.channel("watcher") as channel:  # the watcher's own word, as the admin
            job = await watcher_pb2_grpc.WatcherServiceStub(channel).GetJob(watcher_pb2.GetJobRequest(id=job_id),
                                                                           timeout=10)
        assert (job.acted, job.acted_by) == ("retried", ALICE)
        code, out, err = await stack.cli("audit", "--json")
        assert code == 0, err
        audited = [(entry["who"], entry["action"]) for entry in map(json.loads, out.splitlines())
                   if entry["service"] == "watcher" and entry["what"] == job_id]
        assert audited == [(f"dashboard for {ALICE}", "CancelJob"), (f"dashboard for {ALICE}", "RetryJob")]
