"""The dashboard's view of the delivery log of webhooks and notifications: `GET /api/deliveries`
and `POST /api/deliveries/{id}/replay` (signed-in admins only), and the page's panel listing
the recent deliveries with their status and a Replay button."""

import pytest

from postflow.core.protos import timestamp
from postflow.testing.dashboard import ACCESS_TOKEN, XSS_NAME, chromium_page
from postflow.testing.polling import wait_for
from postflow.v1 import watcher_pb2

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def logged(fakes, **fields) -> watcher_pb2.Delivery:
    delivery = watcher_pb2.Delivery(id=len(fakes.watcher.deliveries) + 1, kind="webhook", target="webhooks[0] mam",
                                    event="delivered", status="sent", idempotency_key="pf-e1-abc", attempts=1,
                                    created_at=timestamp(T0), sent_at=timestamp(T0 + 1), job_id="j1",
                                    path="SQ01/a.mov", pipeline="default")
    delivery.MergeFrom(watcher_pb2.Delivery(**fields))
    fakes.watcher.deliveries.append(delivery)
    return delivery




@pytest.mark.asyncio
async def test_the_deliveries_api_needs_the_login_and_replays(fakes, protected):
    logged(fakes)
    logged(fakes, status="rejected", last_error="HTTP 410", idempotency_key="pf-e2-abc")
    assert (await protected.get("/api/deliveries")).status_code == 401
    assert (await protected.post("/api/deliveries/1/replay")).status_code == 401

    bearer = {"authorization": f"Bearer {ACCESS_TOKEN}"}
    answer = (await protected.get("/api/deliveries", headers=bearer)).json()
    assert [(d["id"], d["status"]) for d in answer["deliveries"]] == [(2, "rejected"), (1, "sent")]
    assert answer["deliveries"][1] == {
        "id": 1, "kind": "webhook", "target": "webhooks[0] mam", "event": "delivered", "status": "sent",
        "idempotency_key": "pf-e1-abc", "attempts": 1, "last_error": "", "job_id": "j1", "path": "SQ01/a.mov",
        "pipeline": "default", "created_at": "2023-11-14T22:13:20Z", "next_attempt_at": None,
        "sent_at": "2023-11-14T22:13:21Z"}
    newest = (await protected.get("/api/deliveries", params={"limit": "1"}, headers=bearer)).json()
    assert [d["id"] for d in newest["deliveries"]] == [2]

    replayed = await protected.post("/api/deliveries/2/replay", headers=bearer)
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending" and fakes.watcher.replayed == [2]
    missing = await protected.post("/api/deliveries/7/replay", headers=bearer)
    assert missing.status_code == 404 and missing.json()["error"] == "no delivery 7"
    for params, named in (({"limit": "many"}, "limit"), ({"since": "1h"}, "since")):
        response = await protected.get("/api/deliveries", params=params, headers=bearer)
        assert response.status_code == 400 and response.json()["error"].startswith(f"{named}:"), response.text


@pytest.mark.asyncio
async def test_the_deliveries_panel_lists_them_and_replays_one(fakes, dashboard):
    logged(fakes, path=XSS_NAME)
    logged(fakes, status="pending", attempts=3, last_error="HTTP 503", target="notifications[0] E-Mail",
           kind="notification", event="failed")
    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/?q=SQ01%2Fa.mov") as page:
        await page.wait_for_selector("#delivery-rows tr:nth-child(2)")
        assert await page.input_value("#filter-search") == "SQ01/a.mov"  # a notification's link
        rows = await page.eval_on_selector_all(
            "#delivery-rows tr", "rows => rows.map(r => [...r.cells].slice(1, 7).map(c => c.textContent))")
        assert rows == [["notifications[0] E-Mail", "failed", "SQ01/a.mov", "pending", "3", "HTTP 503"],
                        ["webhooks[0] mam", "delivered", XSS_NAME, "sent", "1", "—"]]  # the name stays text
        assert await page.is_hidden("#no-deliveries")
        await page.click("#delivery-rows tr:nth-child(2) button")
        await wait_for(lambda: fakes.watcher.replayed == [1], message="the replay")
        await page.wait_for_selector("#delivery-rows tr:nth-child(2)[data-status='pending']")
        assert page.dialogs == [] and page.console_errors == []
