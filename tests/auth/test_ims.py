"""What goes over the wire to Adobe IMS and how its refusals are read: revoke with HTTP Basic
(web-app credentials, as Adobe documents and Frame.io's SDK does), the token endpoint with the
credentials in the body, and `invalid_token` read like `invalid_grant` (the refresh token is
dead: reconnect needed) while other refusals keep the tokens."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qsl

import httpx
import pytest

from postflow.core.config import load_config, write_config
from postflow.core.errors import FailedPrecondition
from postflow.testing.auth import config_dict
from postflow.v1 import auth_pb2
from services.auth.custody import WEB_APP, Custody
from services.auth.identity import Identity
from services.auth.ims import GrantRejected, ImsClient, ImsError, Tokens
from services.auth.relogin import Relogin
from services.auth.token_store import TokenStore

IMS = "https://ims.test"


class FakeIms:
    """Answers every request with `answer` (status, JSON body) and keeps what it was sent."""

    def __init__(self, status: int = 200, body: dict | None = None) -> None:
        self.status, self.body = status, body or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    def form(self, index: int = -1) -> dict[str, str]:
        return dict(parse_qsl(self.requests[index].content.decode()))


def config(tmp_path):
    write_config(config_dict(tmp_path / "state", IMS), tmp_path / "config.json")
    return load_config(tmp_path / "config.json", env={})


@pytest.mark.asyncio
async def test_revoke_authenticates_with_http_basic_and_sends_only_the_token(tmp_path):
    fio = config(tmp_path).frameio
    ims = FakeIms()
    async with httpx.AsyncClient(transport=httpx.MockTransport(ims)) as http:
        await ImsClient(http, fio).revoke("refresh-token-1", "refresh_token")
    request = ims.requests[0]
    assert request.url == f"{IMS}/ims/revoke" and request.method == "POST"
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(credentials).decode() == f"{fio.client_id}:{fio.client_secret}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert ims.form() == {"token": "refresh-token-1", "token_type_hint": "refresh_token"}


@pytest.mark.asyncio
async def test_the_token_endpoint_keeps_the_credentials_in_the_body(tmp_path):
    fio = config(tmp_path).frameio
    ims = FakeIms(body={"access_token": "a2", "refresh_token": "r2", "expires_in": 86399})
    async with httpx.AsyncClient(transport=httpx.MockTransport(ims)) as http:
        tokens = await ImsClient(http, fio).refresh("r1")
    assert tokens.refresh_token == "r2"
    assert "authorization" not in ims.requests[0].headers
    assert ims.form() == {"grant_type": "refresh_token", "refresh_token": "r1", "client_id": fio.client_id,
                          "client_secret": fio.client_secret}


@pytest.mark.asyncio
@pytest.mark.parametrize("status, body, dead", [
    (400, {"error": "invalid_token", "error_description": "refresh token expired"}, True),
    (401, {"error": "invalid_token"}, True),
    (400, {"error": "invalid_grant"}, True),
    (401, {"error": "invalid_client"}, False),
])
async def test_invalid_token_on_refresh_means_reconnect_needed_like_invalid_grant(tmp_path, status, body, dead):
    settings = config(tmp_path)
    ims = FakeIms(status, body)
    async with httpx.AsyncClient(transport=httpx.MockTransport(ims)) as http:
        client = ImsClient(http, settings.frameio)
        with pytest.raises(GrantRejected if dead else ImsError) as raised:
            await client.refresh("r1")
        assert isinstance(raised.value, GrantRejected) == dead

        async def identify(token: str) -> Identity:
            return Identity()

        store = TokenStore(tmp_path / "tokens", settings.auth.token_key.encode())
        store.load()
        custody = Custody(kind=WEB_APP, client_id=settings.frameio.client_id, store=store, ims=client,
                          identify=identify, refresh_margin_s=300, auto_refresh=False,
                          relogin=Relogin(14 * 86400, 2 * 86400), add_secret=lambda value: None)
        await custody.connect(Tokens("a1", "r1", 86399, time.time()))
        with pytest.raises(FailedPrecondition) as refused:
            await custody.access_token(force=True)
    status_now = custody.status()
    assert status_now.state == auth_pb2.AUTH_STATE_RECONNECT_NEEDED and body["error"] in str(refused.value)
    if dead:  # the refresh token is forgotten: nothing left to try at IMS again
        assert "Connect again" in status_now.message and store.load()["grant"] is None
    else:  # a fixable credential: tokens kept, retried later
        assert "frameio.client_secret" in status_now.message and store.load()["grant"]["refresh_token"] == "r1"
