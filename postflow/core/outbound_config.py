"""The config of what PostFlow tells the outside world: `notifications` (Apprise URLs: Slack,
Discord, Teams, e-mail, ntfy, Telegram, Pushover, …), `webhooks` (signed JSON POSTs for n8n,
Make, Zapier, a MAM) and the `outbound` section (alert thresholds, the digest, retries).

Each rule names the events it wants (`EVENTS`) and, optionally, the pipelines whose events it
wants (none: every pipeline). Apprise URLs, webhook URLs and webhook secrets are secrets: never
logged, masked by `check-config`, and readable from files (`url_file`, `secret_file`; the whole
list as a JSON file with `notifications_file`/`webhooks_file` or `POSTFLOW__WEBHOOKS_FILE`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Strict
from pydantic.dataclasses import dataclass

from postflow.core.config_types import (
    SECTION,
    AtLeastOne,
    HttpUrl,
    KeyProblem,
    NonNegativeSeconds,
    PositiveSeconds,
    Section,
    Strings,
)

if TYPE_CHECKING:
    from postflow.core.config import Config

JOB_EVENTS = ("queued", "delivered", "failed", "cancelled")
SERVICE_EVENTS = ("reconnect_needed", "relogin_soon", "tunnel_down", "digest")
REVIEW_EVENTS = ("comment_created", "comment_completed", "approved")  # from Frame.io, on files PostFlow delivered
EVENTS = JOB_EVENTS + SERVICE_EVENTS + REVIEW_EVENTS
CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def quiet_apprise() -> None:
    """The log lines of Apprise and of its HTTP transport (urllib3, which nothing else in
    PostFlow uses) name parts of Apprise URLs, which are secrets: they never reach PostFlow's
    log (what a send said is kept with its delivery instead)."""
    for name in ("apprise", "urllib3"):
        logger = logging.getLogger(name)
        logger.propagate = False
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())


def apprise_service(url: str) -> str:
    """The name of the service an Apprise URL sends to ("E-Mail", "Slack", "JSON", …); a
    ValueError that never repeats the URL when Apprise cannot use it."""
    import apprise  # only a config with notifications pays for loading Apprise's plugins

    quiet_apprise()
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        what = f"its scheme {scheme}:// is not one Apprise knows, or" if scheme else "it has no scheme://, or"
        raise ValueError(f"Apprise cannot use this URL ({what} its parts are incomplete; see "
                         "https://github.com/caronc/apprise/wiki)")
    return str(plugin.service_name)


def check_apprise_url(url: str) -> str:
    apprise_service(url)
    return url


def check_events(events: tuple[str, ...]) -> tuple[str, ...]:
    if not events:
        raise ValueError(f"name at least one event ({', '.join(EVENTS)})")
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise ValueError(f"unknown event {unknown[0]!r} (known: {', '.join(EVENTS)})")
    return events


def check_clock_time(text: str) -> str:
    if not CLOCK_TIME.match(text):
        raise ValueError(f"expected a local time HH:MM (24 h), got {text!r}")
    return text


def json_list(value: Any) -> Any:
    """A list given as JSON text (an environment variable, or `<key>_file`) is read as JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("expected a list of objects (as JSON), got text that is not JSON") from None
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of objects, got {type(value).__name__}")
    return value


def check_secret(value: str) -> str:
    if not value:
        raise ValueError("required (or give the file holding it as <key>_file)")
    return value


Events = Annotated[Strings, AfterValidator(check_events)]
Secret = Annotated[str, Strict(), AfterValidator(check_secret)]


@dataclass(frozen=True, config=SECTION)
class NotificationRule(Section):
    """Messages to one Apprise URL for the events named, batched: events of one window
    (from the first) make one message."""

    url: Annotated[Secret, AfterValidator(check_apprise_url)] = dataclasses.field(repr=False)
    events: Events
    pipelines: Strings = ()  # none: every pipeline
    batch_window_s: NonNegativeSeconds = 30.0  # 0: a message per event
    timeout_s: PositiveSeconds = 10.0


@dataclass(frozen=True, config=SECTION)
class WebhookTarget(Section):
    """Each event as a JSON POST, signed with `secret` (HMAC-SHA256)."""

    url: HttpUrl = dataclasses.field(repr=False)
    secret: Secret = dataclasses.field(repr=False)
    events: Events
    pipelines: Strings = ()  # none: every pipeline
    timeout_s: PositiveSeconds = 10.0


@dataclass(frozen=True, config=SECTION)
class OutboundConfig(Section):
    tunnel_down_after_s: PositiveSeconds = 300.0  # "tunnel down" once it has been down this long
    digest_at: Annotated[str, AfterValidator(check_clock_time)] = "09:00"  # local time of the daily digest
    retry_base_s: PositiveSeconds = 5.0  # a target that fails waits this long, doubling…
    retry_max_s: PositiveSeconds = 600.0  # …up to this, and is tried again for as long as it takes
    dashboard_url: Annotated[str, AfterValidator(lambda url: url and _http_url(url))] = ""  # links in messages
    log_days: AtLeastOne = 30  # sent entries are kept this many days in the delivery log


def _http_url(url: str) -> str:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("expected an http(s) URL")
    return url.rstrip("/")


Notifications = Annotated[tuple[NotificationRule, ...], BeforeValidator(json_list)]
Webhooks = Annotated[tuple[WebhookTarget, ...], BeforeValidator(json_list)]


def rule_key(rule: NotificationRule | WebhookTarget) -> str:
    """A rule's identity in the outbox: what it sends to and what it takes (not where it is in
    the list, nor a webhook's secret), so its waiting events survive edits elsewhere."""
    kind = "webhook" if isinstance(rule, WebhookTarget) else "notification"
    identity = json.dumps([kind, rule.url, sorted(rule.events), sorted(rule.pipelines)])
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def check_rules(config: Config, known: set[str]) -> None:
    """Every pipeline a rule names is one of the config's; no rule repeats another."""
    lists: tuple[tuple[str, tuple[NotificationRule | WebhookTarget, ...]], ...] = (
        ("notifications", config.notifications), ("webhooks", config.webhooks))
    for key, rules in lists:
        seen: dict[str, int] = {}
        for index, rule in enumerate(rules):
            unknown = [name for name in rule.pipelines if name not in known]
            if unknown:
                raise KeyProblem(f"{key}[{index}].pipelines", f"unknown pipeline {unknown[0]!r} "
                                                              f"(known: {', '.join(sorted(known)) or 'none'})")
            first = seen.setdefault(rule_key(rule), index)
            if first != index:
                raise KeyProblem(f"{key}[{index}]", f"repeats {key}[{first}] (the same URL, events and pipelines)")


def outbound_secrets(config: Config) -> list[str]:
    """The Apprise URLs, webhook URLs and webhook secrets (for masking in logs)."""
    return [rule.url for rule in config.notifications] + [
        value for hook in config.webhooks for value in (hook.url, hook.secret)]


def mask_outbound(data: dict[str, Any]) -> None:
    """Masks the secrets of `notifications` and `webhooks` in the config as data."""
    for rule in data["notifications"]:
        rule["url"] = "***"
    for hook in data["webhooks"]:
        hook["url"] = hook["secret"] = "***"


def dashboard_base(config: Config) -> str:
    """Where links in messages point: outbound.dashboard_url, else the origin of
    frameio.redirect_uri (the address people reach the dashboard at)."""
    if config.outbound.dashboard_url:
        return config.outbound.dashboard_url
    redirect = urlsplit(config.frameio.redirect_uri)
    return f"{redirect.scheme}://{redirect.netloc}"
