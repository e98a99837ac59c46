"""Signing in to the page in Chromium at the emulator's Adobe IMS (its OpenID Connect side:
discovery, RS256 ID tokens, the seeded `groups`), the Adobe path of dashboard.oidc; and where
the dashboard looks for a provider's discovery document, and what GET /api/me says."""

import httpx
import pytest
import pytest_asyncio

from postflow.core.oidc_config import ADOBE_IMS_ISSUER, OidcConfig
from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET, EmulatorOptions
from postflow.emulator.seed import DEFAULT_SEED, SeedSpec, UserSpec
from postflow.emulator.server import running_emulator
from postflow.testing.dashboard import ACCESS_TOKEN, chromium_page
from services.dashboard.oidc_routes import OidcSignIn

ANN = UserSpec("Ann Editor", "ann@a.test", "user-ann", groups=("post-operators", "editors"))


@pytest_asyncio.fixture
async def ims():
    options = EmulatorOptions(seed=SeedSpec(users=(ANN,), accounts=DEFAULT_SEED.accounts),
                              allow_http_loopback_redirect=True)
    async with running_emulator(options) as emulator:
        yield emulator.url


@pytest.mark.asyncio
async def test_sign_in_at_the_emulators_ims_gives_the_role_of_the_groups_claim_then_sign_out(oidc_dashboard, ims):
    oidc = OidcConfig(issuer=ims, client_id=DEV_CLIENT_ID, client_secret=DEV_CLIENT_SECRET,
                      roles={"admin": ("post-admins",), "operator": ("post-operators",)})
    url = await oidc_dashboard(oidc)
    async with chromium_page(url) as page:  # IMS approves at once, as the seeded user
        await page.wait_for_selector("#connection[data-state=live]")
        assert await page.text_content("#whoami-name") == "Ann Editor"
        assert await page.get_attribute("#whoami-name", "title") == "ann@a.test"
        assert await page.text_content("#whoami-role") == "operator"
        assert await page.is_hidden("#auth-connect"), "connecting Frame.io is for admins"
        await page.click("#sign-out")
        await page.wait_for_selector("text=You are signed out")
        assert await page.evaluate("fetch('/api/me').then((answer) => answer.status)") == 401
        async with page.expect_request(lambda request: request.url.startswith(f"{ims}/ims/authorize/v2")):
            await page.goto(url)
        await page.wait_for_selector("#connection[data-state=live]")


def test_the_adobe_preset_is_adobe_ims_with_its_discovery_under_ims():
    oidc = OidcConfig(issuer="adobe", client_id="postflow")
    assert oidc.issuer == ADOBE_IMS_ISSUER
    assert oidc.discovery_urls == (f"{ADOBE_IMS_ISSUER}/ims/.well-known/openid-configuration",
                                   f"{ADOBE_IMS_ISSUER}/.well-known/openid-configuration")
    other = OidcConfig(issuer="https://login.example/realms/post/", client_id="postflow")
    assert other.discovery_urls[0] == "https://login.example/realms/post/.well-known/openid-configuration"


@pytest.mark.asyncio
async def test_discovery_goes_on_to_the_ims_place_when_the_standard_one_is_not_found():
    asked = []

    def provider(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        found = request.url.path == "/ims/.well-known/openid-configuration"
        return httpx.Response(200, json={"issuer": "https://idp.test"}) if found else httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as http:
        signin = OidcSignIn(OidcConfig(issuer="https://idp.test", client_id="postflow"), None, None, http)  # type: ignore[arg-type]
        assert await signin.metadata() == {"issuer": "https://idp.test"}
    assert asked == ["/.well-known/openid-configuration", "/ims/.well-known/openid-configuration"]


@pytest.mark.asyncio
async def test_api_me_says_the_access_token_is_an_admin(oidc_dashboard, ims, http):
    assert (await http.get("/api/me")).json() == {"role": "admin", "via": "localhost"}
    url = await oidc_dashboard(OidcConfig(issuer=ims, client_id=DEV_CLIENT_ID, client_secret=DEV_CLIENT_SECRET))
    async with httpx.AsyncClient(base_url=url) as script:
        assert (await script.get("/api/me")).status_code == 401
        answer = await script.get("/api/me", headers={"authorization": f"Bearer {ACCESS_TOKEN}"})
    assert answer.json() == {"role": "admin", "via": "access token"}
