"""The ID tokens a real provider never gives, from a provider in the test that gives them when
asked (postflow.testing.oidc_provider): forged, expired, for another audience or from another
issuer, each refused with a clear page and an audit line; and a provider that is down."""

import dataclasses
import time

import httpx
import pytest
import pytest_asyncio

from postflow.core.config import DashboardConfig
from postflow.core.oidc_config import OidcConfig
from postflow.core.service import Runtime
from postflow.testing.dashboard import ACCESS_TOKEN
from postflow.testing.oidc_provider import CLIENT_ID, TokenProvider, new_key
from postflow.testing.polling import wait_for
from services.dashboard.server import DashboardService, build_service

KEY = new_key("provider-key")
FORGER = new_key("provider-key")  # same key id, another key
ROLES = {"admin": ("post-admins",)}


@pytest_asyncio.fixture
async def provider():
    provider = await TokenProvider(KEY).start()
    try:
        yield provider
    finally:
        await provider.stop()


async def started_dashboard(fakes, tmp_path, issuer: str) -> DashboardService:
    oidc = OidcConfig(issuer=issuer, client_id=CLIENT_ID, client_secret="s3cret", roles=ROLES)
    config = dataclasses.replace(fakes.config, state_dir=str(tmp_path),
                                 dashboard=DashboardConfig(access_token=ACCESS_TOKEN, oidc=oidc))
    service = build_service(Runtime(config), http_address="127.0.0.1:0")
    await service.start()
    return service


@pytest_asyncio.fixture
async def dashboard(fakes, provider, tmp_path):
    service = await started_dashboard(fakes, tmp_path, provider.issuer)
    try:
        yield service
    finally:
        await service.stop()


def browser(service: DashboardService) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}", timeout=10)


async def at_provider(client: httpx.AsyncClient) -> str:
    """Opens the page and lets the provider answer: the callback URL the browser is sent to."""
    start = await client.get("/")
    assert start.status_code == 302
    async with httpx.AsyncClient(timeout=10) as outside:
        answer = await outside.get(start.headers["location"])
    assert answer.status_code == 302
    return answer.headers["location"]


async def refusals(service: DashboardService) -> list:
    entries = await service.access.signin.audit.read()  # type: ignore[union-attr]
    return [entry for entry in entries if entry.action == "sign-in" and entry.outcome == "denied"]


@pytest.mark.asyncio
@pytest.mark.parametrize(("shape", "named"), [
    (lambda claims: claims, "bad_signature"),  # signed by FORGER
    (lambda claims: claims | {"exp": int(time.time()) - 3600}, "exp"),
    (lambda claims: claims | {"aud": "someone-else"}, "aud"),
    (lambda claims: claims | {"iss": "https://evil.example"}, "iss"),
], ids=["forged", "expired", "wrong-audience", "wrong-issuer"])
async def test_a_bad_id_token_is_refused_with_a_page_and_an_audit_line(dashboard, provider, shape, named):
    provider.claims_for = shape
    if named == "bad_signature":
        provider.signing_key = FORGER
    async with browser(dashboard) as client:
        page = await client.get(await at_provider(client))
        assert page.status_code == 403
        assert "Sign-in refused" in page.text and "ID token is not valid" in page.text and named in page.text
        assert (await client.get("/api/status")).status_code == 401
    [entry] = await refusals(dashboard)
    assert "ID token is not valid" in entry.what and named in entry.what and entry.service == "dashboard"
    assert entry.who == "anonymous"  # the token vouches for nobody


@pytest.mark.asyncio
async def test_the_good_token_signs_in_and_the_merged_audit_log_names_the_person(dashboard, provider):
    async with browser(dashboard) as client:
        page = await client.get(await at_provider(client))
        assert page.status_code == 303

        async def signed_in_line() -> list:
            entries = (await client.get("/api/audit")).json()["entries"]
            return [entry for entry in entries if entry["service"] == "dashboard" and entry["action"] == "sign-in"]

        [line] = await wait_for(signed_in_line, message="the sign-in in /api/audit")
    assert (line["who"], line["what"], line["outcome"]) == ("ann@studio.example", "as admin", "ok")
    assert await refusals(dashboard) == []


@pytest.mark.asyncio
async def test_a_provider_that_is_down_gives_a_page_and_signed_in_people_keep_working(dashboard, provider):
    async with browser(dashboard) as ann, browser(dashboard) as late:
        assert (await ann.get(await at_provider(ann))).status_code == 303
        callback = await at_provider(late)
        await provider.stop()
        page = await late.get(callback)
        assert page.status_code == 503 and "cannot be reached" in page.text and provider.issuer in page.text
        assert (await ann.get("/api/status")).status_code == 200
        assert (await late.get("/api/status")).status_code == 401
        again = await late.get("/")  # a new sign-in: the provider is not where the browser is sent
        assert again.status_code == 503 and "cannot be reached" in again.text
    [entry] = await refusals(dashboard)
    assert provider.issuer in entry.what


@pytest.mark.asyncio
async def test_a_provider_down_from_the_start_gives_a_page(fakes, provider, tmp_path):
    issuer = provider.issuer
    await provider.stop()
    service = await started_dashboard(fakes, tmp_path, issuer)
    try:
        async with browser(service) as client:
            page = await client.get("/")
        assert page.status_code == 503 and "cannot be reached" in page.text and "already signed in" in page.text
    finally:
        await service.stop()
