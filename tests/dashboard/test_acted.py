"""The job dict says who asked for the job's last change: the person signed in, sent to the
watcher as `x-postflow-actor` (the fake watcher records it as the real one does); nobody for a
script with the access token."""

from __future__ import annotations

import pytest

from postflow.testing.dashboard import ACCESS_TOKEN, csrf
from postflow.v1 import common_pb2
from tests.dashboard.test_oidc import authorize, provider, signed  # noqa: F401 (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.mark.asyncio
async def test_the_job_says_who_retried_it_and_a_script_acts_for_nobody(signed, fakes):  # noqa: F811
    _, client = signed
    browser = client()
    await authorize(browser, "ann")
    job = fakes.watcher.add_job("SQ01/a.mov")
    fakes.watcher.update(job.id, state=common_pb2.JOB_STATE_FAILED, error="boom")
    retried = await browser.post(f"/api/jobs/{job.id}/retry", headers=csrf(browser))
    assert retried.status_code == 200, retried.text
    assert (retried.json()["acted"], retried.json()["acted_by"]) == ("retried", "ann@studio.example")
    shown = (await browser.get(f"/api/jobs/{job.id}")).json()
    assert (shown["state"], shown["acted"], shown["acted_by"]) == ("queued", "retried", "ann@studio.example")
    assert fakes.watcher.events[-1].message == "retried by ann@studio.example"
    script = client()
    cancelled = await script.post(f"/api/jobs/{job.id}/cancel", headers={"authorization": f"Bearer {ACCESS_TOKEN}"})
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["acted"], cancelled.json()["acted_by"]) == ("cancelled", "")
