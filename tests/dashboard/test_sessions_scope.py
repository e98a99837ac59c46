"""Admins revoking people's sessions (/api/sessions) and scope per person (dashboard.oidc.pipelines),
against oidc-provider-mock, a real provider running in the test."""

import httpx
import oidc_provider_mock
import pytest
import pytest_asyncio

from postflow.core.config import ConfigError, build_config
from postflow.core.oidc_config import OidcConfig
from postflow.testing.dashboard import ACCESS_TOKEN, csrf
from postflow.testing.polling import wait_for
from postflow.testing.sse_client import following
from postflow.v1 import common_pb2, watcher_pb2
from tests.dashboard.test_oidc import authorize

PEOPLE = [oidc_provider_mock.User(sub="ann", claims={"email": "ann@studio.example", "groups": ["post-admins"]}),
          oidc_provider_mock.User(sub="ola", claims={"email": "ola@studio.example", "name": "Ola Operator"}),
          oidc_provider_mock.User(sub="vic", claims={"email": "vic@studio.example", "groups": ["producers"]}),
          oidc_provider_mock.User(sub="bea", claims={"email": "bea@clientb.example", "groups": ["clientb-producers"]})]
ROLES = {"admin": ("post-admins",), "operator": ("ola@studio.example", "clientb-producers"), "viewer": ("producers",)}
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")  # the provider's own authlib use


@pytest.fixture(scope="module")
def provider():
    with oidc_provider_mock.run_server_in_thread(user_claims=PEOPLE, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest_asyncio.fixture
async def browser(oidc_dashboard, provider):
    """A function giving a client of one dashboard signed in as `sub`."""
    url = await oidc_dashboard(OidcConfig(issuer=provider, client_id="postflow", client_secret="s3cret", roles=ROLES,
                                          pipelines={"clientb-producers": ("clientb",)}))
    clients = []

    async def signed_in(sub: str) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(base_url=url, timeout=10))
        assert (await authorize(clients[-1], sub)).status_code == 303
        return clients[-1]

    try:
        yield signed_in
    finally:
        for client in clients:
            await client.aclose()


@pytest.mark.asyncio
async def test_an_admin_lists_and_revokes_a_persons_sessions(browser):
    admin, vic, vic_elsewhere = await browser("ann"), await browser("vic"), await browser("vic")
    listed = (await admin.get("/api/sessions")).json()["sessions"]
    assert sorted(entry["email"] for entry in listed) == ["ann@studio.example"] + ["vic@studio.example"] * 2
    session_ids = {admin.cookies["postflow_person"], vic.cookies["postflow_person"]}
    for entry in listed:
        assert entry["role"] and entry["created"] < entry["expires"] and len(entry["handle"]) == 12
        assert not any(entry["handle"] in session_id for session_id in session_ids), "never the session id"
    async with following(vic) as view:
        await wait_for(lambda: view.of_type("snapshot"), message="vic follows the jobs")
        answer = await admin.post("/api/sessions/revoke", json={"email": "Vic@Studio.example"}, headers=csrf(admin))
        assert answer.json() == {"email": "Vic@Studio.example", "revoked": 2}
        assert (await vic.get("/api/status")).status_code == 401
        assert (await vic_elsewhere.get("/")).status_code == 302, "the page sends them to the provider again"
    assert [entry["email"] for entry in (await admin.get("/api/sessions")).json()["sessions"]] == ["ann@studio.example"]
    audit = (await admin.get("/api/audit")).json()["entries"]
    assert any(entry["who"] == "ann@studio.example" and entry["action"] == "revoke-sessions"
               and entry["what"].startswith("Vic@Studio.example: 2") for entry in audit)


@pytest.mark.asyncio
async def test_only_admins_list_or_revoke_sessions(browser):
    for sub in ("vic", "ola"):
        person = await browser(sub)
        assert (await person.get("/api/sessions")).status_code == 403
        refused = await person.post("/api/sessions/revoke", json={"email": "ann@studio.example"}, headers=csrf(person))
        assert refused.status_code == 403
    admin = await browser("ann")
    assert (await admin.post("/api/sessions/revoke", json={"email": "ann@studio.example"})).status_code == 403, \
        "CSRF as for every POST"
    bad = await admin.post("/api/sessions/revoke", json={"who": "x"}, headers=csrf(admin))
    assert bad.status_code == 400 and "email" in bad.json()["error"]


@pytest.mark.asyncio
async def test_a_producer_limited_to_a_pipeline_sees_and_acts_on_its_jobs_only(fakes, browser):
    theirs = fakes.watcher.add_job("B/SH010/b_v001.mov", pipeline="clientb")
    other = fakes.watcher.add_job("A/SH010/a_v001.mov", pipeline="clienta")
    fakes.watcher.update(other.id, state=common_pb2.JOB_STATE_FAILED)
    bea = await browser("bea")
    me = (await bea.get("/api/me")).json()
    assert me["role"] == "operator" and me["pipelines"] == ["clientb"]
    assert [job["id"] for job in (await bea.get("/api/jobs")).json()["jobs"]] == [theirs.id]
    refused = await bea.get("/api/jobs", params={"pipeline": "clientb,clienta"})
    assert refused.status_code == 403 and "clienta" in refused.json()["error"]
    retry = await bea.post(f"/api/jobs/{other.id}/retry", headers=csrf(bea))
    assert retry.status_code == 403 and "clienta" in retry.json()["error"]
    assert fakes.watcher.jobs[other.id].state == common_pb2.JOB_STATE_FAILED
    assert (await bea.post(f"/api/jobs/{theirs.id}/cancel", headers=csrf(bea))).status_code == 200
    assert (await bea.get("/api/history", params={"pipeline": "clienta"})).status_code == 403
    for name in ("clienta", "clientb"):
        fakes.watcher.set_pipeline(name)
        fakes.watcher.add_unrouted(name, f"{name}/notes.txt", reason="no rule matches")
    unrouted = (await bea.get("/api/unrouted")).json()
    assert [file["pipeline"] for file in unrouted["files"]] == ["clientb"], "no filter: only the person's pipelines"
    scriptwide = await bea.get("/api/jobs", headers={"authorization": f"Bearer {ACCESS_TOKEN}"})
    assert len(scriptwide.json()["jobs"]) == 2, "the access token (scripts) sees every pipeline"
    assert "pipelines" not in (await (await browser("vic")).get("/api/me")).json()


@pytest.mark.asyncio
async def test_the_event_stream_carries_only_the_persons_pipelines(fakes, browser):
    early_other = fakes.watcher.add_job("A/early.mov", pipeline="clienta")
    early_theirs = fakes.watcher.add_job("B/early.mov", pipeline="clientb")
    bea, ann = await browser("bea"), await browser("ann")
    async with following(bea) as limited, following(ann) as everyone:
        await wait_for(lambda: early_other.id in everyone.jobs and early_theirs.id in limited.jobs,
                       message="both snapshots hold the early jobs")
        late_other = fakes.watcher.add_job("A/late.mov", pipeline="clienta")
        late_theirs = fakes.watcher.add_job("B/late.mov", pipeline="clientb")
        await wait_for(lambda: {late_other.id, late_theirs.id} <= set(everyone.jobs) and late_theirs.id in limited.jobs,
                       message="the late jobs arrive")
        assert set(limited.jobs) == {early_theirs.id, late_theirs.id}
        assert not any("A/" in event.data.get("message", "") for event in limited.of_type("log"))
        snapshot = limited.of_type("snapshot")[0].data
        assert not any("A/" in entry["message"] for entry in snapshot["events"])


def test_the_pipelines_map_is_checked_naming_the_key():
    oidc = {"issuer": "https://id.example", "client_id": "postflow"}
    for pipelines, message in [
        ({"clientb-producers": ["clientb", "not a name!"]}, r"dashboard\.oidc\.pipelines\.clientb-producers\[1\]: "),
        ({"x@clientb.example": []}, r"dashboard\.oidc\.pipelines\.x@clientb\.example: at least one pipeline"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build_config({"dashboard": {"oidc": oidc | {"pipelines": pipelines}}})


@pytest.mark.asyncio
async def test_marker_downloads_for_viewers_and_only_of_the_persons_pipelines(fakes, browser):
    theirs = watcher_pb2.Review(job=fakes.watcher.add_job("B/b_v001.mov", pipeline="clientb"))
    other = watcher_pb2.Review(job=fakes.watcher.add_job("A/a_v001.mov", pipeline="clienta"))
    fakes.watcher.reviews += [theirs, other]
    viewer, bea = await browser("vic"), await browser("bea")
    for job in (theirs.job, other.job):
        assert (await viewer.get(f"/api/jobs/{job.id}/markers", params={"format": "csv"})).status_code == 200
    assert (await bea.get(f"/api/jobs/{theirs.job.id}/markers", params={"format": "edl"})).status_code == 200
    refused = await bea.get(f"/api/jobs/{other.job.id}/markers", params={"format": "edl"})
    assert refused.status_code == 403 and refused.json()["error"] == "pipeline 'clienta': you see only clientb"
