"""`dashboard.oidc`: sign-in to the dashboard with the facility's OpenID Connect provider.

`issuer` is the provider's issuer URL (its `/.well-known/openid-configuration` is read), or
"adobe": Adobe IMS (ADOBE_IMS_ISSUER, whose discovery document lives under `/ims/`);
`roles` maps each role (admin, operator, viewer) to the names that give it: a group named in the
ID token's `roles_claim` (default "groups"), or a person's e-mail address (a local table). The
highest role a person matches is theirs; matching none, they are shown an "ask an admin" page.
`client_secret` is a secret (also as `client_secret_file`)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import field_validator, model_validator
from pydantic.dataclasses import dataclass

from postflow.core.config_types import SECTION, HttpUrl, KeyProblem, PositiveSeconds, Section, Strings

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")  # each may do what the ones before it may
ADOBE_IMS_ISSUER = "https://ims-na1.adobelogin.com"
DISCOVERY = "/.well-known/openid-configuration"
IMS_DISCOVERY = "/ims" + DISCOVERY  # Adobe IMS's (and the emulator's) place for it


@dataclass(frozen=True, config=SECTION)
class OidcConfig(Section):
    issuer: HttpUrl
    client_id: str
    client_secret: str = dataclasses.field(default="", repr=False)
    roles_claim: str = "groups"
    roles: dict[Role, Strings] = dataclasses.field(default_factory=dict)
    scopes: Strings = ("openid", "email", "profile")
    session_ttl_s: PositiveSeconds = 8 * 3600.0

    @field_validator("issuer", mode="before")
    @classmethod
    def preset_issuer(cls, value: object) -> object:
        return ADOBE_IMS_ISSUER if isinstance(value, str) and value.strip().lower() == "adobe" else value

    @model_validator(mode="after")
    def check_oidc(self) -> OidcConfig:
        if not self.client_id:
            raise KeyProblem("client_id", "required: the dashboard's client id at the provider")
        if "openid" not in self.scopes:
            raise KeyProblem("scopes", f'must include "openid", got {list(self.scopes)}')
        if not self.roles_claim:
            raise KeyProblem("roles_claim", 'required: the ID token claim holding the groups (e.g. "groups")')
        return self

    @property
    def discovery_urls(self) -> tuple[str, ...]:
        """Where the provider's discovery document may be, in the order to try them: the
        standard place first, Adobe IMS's `/ims/` one next (first for Adobe IMS itself)."""
        base = self.issuer.rstrip("/")
        places = (IMS_DISCOVERY, DISCOVERY) if base == ADOBE_IMS_ISSUER else (DISCOVERY, IMS_DISCOVERY)
        return tuple(base + place for place in places)

    def role_of(self, email: str, groups: list[str]) -> Role | None:
        """The highest role `email` or one of `groups` is given; None: no role."""
        names = {email.lower()} | set(groups) if email else set(groups)
        for role in reversed(ROLES):
            if any(name in names or name.lower() in names for name in self.roles.get(role, ())):
                return role
        return None
