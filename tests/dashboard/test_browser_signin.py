"""Signing in to the page in Chromium with OpenID Connect (dashboard.oidc) at oidc-provider-mock,
a real provider running in the test: what each role is offered, a viewer's forced retry refused,
sign-out and session expiry sending the browser back to the provider."""

import oidc_provider_mock
import pytest

from postflow.core.oidc_config import OidcConfig
from postflow.testing.dashboard import FORCED_RETRY, chromium_page, row
from postflow.testing.polling import wait_for
from postflow.v1 import common_pb2

PEOPLE = [oidc_provider_mock.User(sub="vic", claims={"email": "vic@studio.example", "name": "Vic Producer",
                                                     "groups": ["producers"]}),
          oidc_provider_mock.User(sub="ola", claims={"email": "ola@studio.example", "name": "Ola Operator"})]
ROLES = {"operator": ("ola@studio.example",), "viewer": ("producers",)}
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")  # the provider's own authlib use


@pytest.fixture(scope="module")
def provider():
    with oidc_provider_mock.run_server_in_thread(user_claims=PEOPLE, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def oidc(provider: str, session_ttl_s: float = 3600.0) -> OidcConfig:
    return OidcConfig(issuer=provider, client_id="postflow", client_secret="s3cret", roles=ROLES,
                      session_ttl_s=session_ttl_s)


async def sign_in(page, provider: str, sub: str) -> None:
    """At the provider's authorization form the page was sent to: `sub` signs in."""
    assert page.url.startswith(f"{provider}/oauth2/authorize")
    await page.fill("input[name=sub]", sub)
    await page.click("button:text('Authorize')")
    await page.wait_for_selector("#connection[data-state=live]")


async def failed_job(fakes, page) -> str:
    job = fakes.watcher.add_job("SQ01/SH010/SQ01_SH010_v001.mov")
    fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_FAILED, error="refused")
    await page.wait_for_selector(row(job.id, "failed"))
    return job.id


@pytest.mark.asyncio
async def test_a_viewer_sees_the_jobs_but_is_offered_no_action_and_a_forced_retry_is_refused(
        fakes, oidc_dashboard, provider):
    async with chromium_page(await oidc_dashboard(oidc(provider))) as page:
        await sign_in(page, provider, "vic")
        assert await page.text_content("#whoami-name") == "Vic Producer"
        assert await page.text_content("#whoami-role") == "viewer"
        assert await page.get_attribute("#sign-out", "href") == "/auth/oidc/logout"
        job_id = await failed_job(fakes, page)
        assert await page.is_hidden(f"{row(job_id)} button.retry")
        assert await page.is_hidden("#auth-connect") and await page.is_hidden("#auth-disconnect")
        assert await page.evaluate(FORCED_RETRY, job_id) == 403
        assert fakes.watcher.jobs[job_id].state == common_pb2.JOB_STATE_FAILED
        # Only refused requests (the forced retry, the admin panels' lists) and the provider's CDN styles.
        assert [error for error in page.console_errors if not error.startswith("Failed to load resource")] == []


@pytest.mark.asyncio
async def test_an_operator_retries_but_is_not_offered_admin_actions_and_signs_out(fakes, oidc_dashboard, provider):
    url = await oidc_dashboard(oidc(provider))
    async with chromium_page(url) as page:
        await sign_in(page, provider, "ola")
        assert await page.text_content("#whoami-role") == "operator"
        assert await page.is_hidden("#auth-connect")
        job_id = await failed_job(fakes, page)
        await page.click(f"{row(job_id)} button.retry")
        await page.wait_for_selector(row(job_id, "queued"))
        await page.click("#sign-out")
        await page.wait_for_selector("text=You are signed out")
        assert await page.evaluate("fetch('/api/me').then((answer) => answer.status)") == 401
        await page.goto(url)
        assert page.url.startswith(f"{provider}/oauth2/authorize"), "signed out: the provider asks again"


@pytest.mark.asyncio
async def test_an_expired_session_sends_the_next_page_load_to_the_provider(oidc_dashboard, provider):
    async with chromium_page(await oidc_dashboard(oidc(provider, session_ttl_s=4.0))) as page:
        await sign_in(page, provider, "vic")
        await wait_for(lambda: page.evaluate("fetch('/api/me').then((answer) => answer.status === 401)"),
                       message="the session expired")
        await page.reload()
        assert page.url.startswith(f"{provider}/oauth2/authorize")
        await sign_in(page, provider, "vic")
        assert await page.text_content("#whoami-role") == "viewer"
