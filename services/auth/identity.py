"""Who a connection belongs to, for the status the dashboard shows: Frame.io `/v4/me`, and the
first account from `/v4/accounts` when none is configured. Best effort: a failure here never
breaks the connection."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    name: str = ""
    email: str = ""
    account_id: str = ""


class IdentityLookup:
    def __init__(self, http: httpx.AsyncClient, api_base_url: str, account_id: str = "") -> None:
        self._http = http
        self._base = api_base_url.rstrip("/")
        self._account_id = account_id

    async def __call__(self, access_token: str) -> Identity:
        headers = {"Authorization": f"Bearer {access_token}"}
        me = await self._get("/v4/me", headers)
        account_id = self._account_id
        if not account_id:
            accounts = await self._get("/v4/accounts", headers)
            if isinstance(accounts, list) and accounts and isinstance(accounts[0], dict):
                account_id = str(accounts[0].get("id") or "")
        me = me if isinstance(me, dict) else {}
        return Identity(str(me.get("name") or ""), str(me.get("email") or ""), account_id)

    async def _get(self, path: str, headers: dict[str, str]) -> Any:
        try:
            response = await self._http.get(f"{self._base}{path}", headers=headers)
        except httpx.HTTPError as exc:
            log.warning("Frame.io %s: %s; user details left out of the status", path, type(exc).__name__)
            return None
        if response.status_code != 200:
            log.warning("Frame.io %s: HTTP %d; user details left out of the status", path, response.status_code)
            return None
        try:
            return response.json().get("data")
        except (ValueError, AttributeError):
            return None
