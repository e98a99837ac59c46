"""Sign-in with OpenID Connect (`dashboard.oidc`) against oidc-provider-mock, a real provider
running in the test: the redirect, the session, roles from a groups claim or an e-mail table,
refusals (unknown user, state and nonce mismatch), sign-out and expiry."""

import dataclasses
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import pytest
import pytest_asyncio

from postflow.core.config import DashboardConfig
from postflow.core.oidc_config import OidcConfig
from postflow.core.service import Runtime
from postflow.testing.dashboard import ACCESS_TOKEN, csrf
from services.dashboard.server import build_service

USERS = [oidc_provider_mock.User(sub="ann", claims={"email": "ann@studio.example", "groups": ["post-admins"]}),
         oidc_provider_mock.User(sub="vic", claims={"email": "vic@studio.example", "groups": ["producers"]}),
         oidc_provider_mock.User(sub="ola", claims={"email": "Ola@Studio.example"}),
         oidc_provider_mock.User(sub="zed", claims={"email": "zed@elsewhere.example", "groups": ["nobody"]})]
# The provider's own use of authlib (in its thread) is deprecated there, not here.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
ROLES = {"admin": ("post-admins",), "operator": ("ola@studio.example",), "viewer": ("producers",)}


@pytest.fixture(scope="module")
def provider():
    with oidc_provider_mock.run_server_in_thread(user_claims=USERS, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest_asyncio.fixture
async def signed(fakes, provider, tmp_path):
    """A function making a dashboard client signed in as a user (the dashboard is shared)."""
    oidc = OidcConfig(issuer=provider, client_id="postflow", client_secret="s3cret", roles=ROLES)
    config = dataclasses.replace(fakes.config, state_dir=str(tmp_path),
                                 dashboard=DashboardConfig(access_token=ACCESS_TOKEN, oidc=oidc))
    service = build_service(Runtime(config), http_address="127.0.0.1:0")
    await service.start()
    clients = []

    def client() -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}", timeout=10))
        return clients[-1]

    try:
        yield service, client
    finally:
        for each in clients:
            await each.aclose()
        await service.stop()


async def authorize(client: httpx.AsyncClient, sub: str, tamper=lambda query: query) -> httpx.Response:
    """Opens the page, lets the provider sign `sub` in, and follows its answer to the callback."""
    start = await client.get("/")
    assert start.status_code == 302
    url = urlsplit(start.headers["location"])
    query = tamper({key: values[0] for key, values in parse_qs(url.query).items()})
    async with httpx.AsyncClient(timeout=10) as at_provider:
        answer = await at_provider.post(f"{url.scheme}://{url.netloc}{url.path}", params=query, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    return await client.get(answer.headers["location"])


@pytest.mark.asyncio
async def test_a_browser_without_session_is_sent_to_the_issuer(signed, provider):
    _, client = signed
    response = await client().get("/")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider}/oauth2/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == ["postflow"] and query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"] and query["code_challenge"]


@pytest.mark.asyncio
async def test_sign_in_gives_a_session_with_the_role_of_the_groups_claim(signed):
    _, client = signed
    browser = client()
    callback = await authorize(browser, "ann")
    assert callback.status_code == 303 and callback.headers["location"] == "/"
    assert (await browser.get("/api/status")).status_code == 200
    assert (await browser.get("/api/audit")).status_code == 200  # admins only
    assert (await browser.get("/")).status_code == 200


@pytest.mark.asyncio
async def test_a_viewer_sees_but_may_not_retry(signed, fakes):
    _, client = signed
    browser = client()
    await authorize(browser, "vic")
    assert (await browser.get("/api/status")).status_code == 200
    refused = await browser.post("/api/jobs/job-1/retry", headers=csrf(browser))
    assert refused.status_code == 403 and "operator role" in refused.json()["error"]
    assert (await browser.get("/api/audit")).status_code == 403


@pytest.mark.asyncio
async def test_the_email_table_gives_a_role_and_the_access_token_is_an_admin_for_scripts(signed):
    _, client = signed
    browser = client()
    await authorize(browser, "ola")  # operator by e-mail, whatever its case
    assert (await browser.post("/api/auth/disconnect", headers=csrf(browser))).status_code == 403
    assert (await browser.post("/api/jobs/nope/retry", headers=csrf(browser))).status_code != 403
    script = client()
    bearer = {"authorization": f"Bearer {ACCESS_TOKEN}"}
    assert (await script.get("/api/audit", headers=bearer)).status_code == 200


@pytest.mark.asyncio
async def test_an_unknown_user_is_asked_to_see_an_admin(signed):
    _, client = signed
    browser = client()
    page = await authorize(browser, "zed")
    assert page.status_code == 403 and "Ask an admin" in page.text and "zed@elsewhere.example" in page.text
    assert (await browser.get("/api/status")).status_code == 401


@pytest.mark.asyncio
async def test_state_and_nonce_mismatches_and_replays_are_refused(signed):
    service, client = signed
    browser = client()
    page = await authorize(browser, "ann", lambda query: query | {"state": "forged"})
    assert page.status_code == 400 and "state mismatch" in page.text
    browser = client()
    page = await authorize(browser, "ann", lambda query: query | {"nonce": "other"})
    assert page.status_code == 403 and "ID token is not valid" in page.text and "nonce" in page.text
    assert (await browser.get("/api/status")).status_code == 401
    replay = await browser.get(str(page.request.url))
    assert replay.status_code == 400 and "no sign-in under way" in replay.text
    entries = await service.access.signin.audit.read()
    refused = [entry.what for entry in entries if entry.action == "sign-in" and entry.outcome == "denied"
               and entry.who == "anonymous" and entry.service == "dashboard"]
    assert len(refused) == 3 and "state mismatch" in refused[0] and "nonce" in refused[1]
    assert "no sign-in under way" in refused[2]


@pytest.mark.asyncio
async def test_sign_out_and_expiry_end_the_session(signed):
    service, client = signed
    browser = client()
    await authorize(browser, "ann")
    assert (await browser.get("/auth/oidc/logout")).status_code == 200
    assert (await browser.get("/api/status")).status_code == 401
    await authorize(browser, "ann")
    sessions = service.access.signin.sessions
    for session_id, person in list(sessions._sessions.items()):
        sessions._sessions[session_id] = dataclasses.replace(person, expires=time.time() - 1)
    assert (await browser.get("/api/status")).status_code == 401
    assert (await browser.get("/")).status_code == 302
