"""`dashboard.oidc`: sign-in to the dashboard with the facility's OpenID Connect provider.

`issuer` is the provider's issuer URL (its `/.well-known/openid-configuration` is read), or
"adobe": Adobe IMS (ADOBE_IMS_ISSUER, whose discovery document lives under `/ims/`);
`roles` maps each role (admin, operator, viewer) to the names that give it: a group named in the
ID token's `roles_claim` (default "groups"), or a person's e-mail address (a local table). The
highest role a person matches is theirs; matching none, they are shown an "ask an admin" page.
`pipelines` limits people to some pipelines: `{"<group or e-mail>": ["pipeline", …]}`; a person
matching entries sees the pipelines of all of them, one matching none sees every pipeline.
`client_secret` is a secret (also as `client_secret_file`)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import field_validator, model_validator
from pydantic.dataclasses import dataclass

from postflow.core.config_types import SECTION, HttpUrl, KeyProblem, PositiveSeconds, Section, Strings
from postflow.core.pipelines import NAME_PATTERN

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
    pipelines: dict[str, Strings] = dataclasses.field(default_factory=dict)

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
        for who, names in self.pipelines.items():
            if not names:
                raise KeyProblem(f"pipelines.{who}", "at least one pipeline (leave the entry out to show every one)")
            for index, name in enumerate(names):
                if not NAME_PATTERN.match(name):
                    raise KeyProblem(f"pipelines.{who}[{index}]", f"{name!r} is not a pipeline name")
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
        for role in reversed(ROLES):
            if matches(self.roles.get(role, ()), email, groups):
                return role
        return None

    def pipelines_of(self, email: str, groups: list[str]) -> tuple[str, ...] | None:
        """The pipelines `email` (or one of `groups`) is limited to; None: every pipeline."""
        limited = [names for who, names in self.pipelines.items() if matches((who,), email, groups)]
        return tuple(sorted({name for names in limited for name in names})) if limited else None


def matches(entries: Strings, email: str, groups: list[str]) -> bool:
    """Whether one of `entries` names `email` (in any case) or one of `groups`."""
    names = {email.lower()} | set(groups) if email else set(groups)
    return any(name in names or name.lower() in names for name in entries)
