"""The config of notifications, webhooks and the `outbound` section: the contract's shape,
errors naming the key (never repeating a secret), secrets read from files (inside lists too,
or the whole list from one file or variable) and masked wherever the config is shown."""

import json

import pytest

from postflow.core.config import ConfigError, build_config, load_config
from postflow.core.config_secrets import secret_values, to_dict
from postflow.core.outbound_config import dashboard_base

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops"
HOOK = {"url": "https://hooks.example.com/catch/1/abc", "secret": "whsec-0123456789", "events": ["delivered"]}


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        build_config(data)
    return str(raised.value)


def test_the_contract_shape_with_its_defaults():
    config = build_config({
        "pipelines": [{"name": "showa", "root": "/srv/a"}],
        "notifications": [{"url": SLACK, "events": ["delivered", "failed"], "pipelines": ["showa"]},
                          {"url": "mailto://user:pass@example.com", "events": "digest", "batch_window_s": 0}],
        "webhooks": [HOOK | {"events": ["queued", "delivered", "failed", "cancelled"]}]})
    first, second = config.notifications
    assert first.events == ("delivered", "failed") and first.pipelines == ("showa",) and first.batch_window_s == 30
    assert second.events == ("digest",) and second.batch_window_s == 0 and second.timeout_s == 10
    (hook,) = config.webhooks
    assert hook.url == HOOK["url"] and hook.secret == HOOK["secret"] and hook.timeout_s == 10
    assert config.outbound.tunnel_down_after_s == 300 and config.outbound.digest_at == "09:00"
    assert SLACK not in repr(config) and HOOK["secret"] not in repr(config)
    assert dashboard_base(config) == "https://localhost:8000"
    assert dashboard_base(build_config({"outbound": {"dashboard_url": "https://pf.example.com/"}})) == \
        "https://pf.example.com"


@pytest.mark.parametrize(("data", "error"), [
    ({"notifications": [{"url": "slakc://T1/A1/xyz", "events": ["failed"]}]},
     "notifications[0].url: Apprise cannot use this URL (its scheme slakc:// is not one Apprise knows"),
    ({"notifications": [{"url": SLACK, "events": ["failed"]}, {"url": "no scheme here", "events": ["failed"]}]},
     "notifications[1].url: Apprise cannot use this URL (it has no scheme://"),
    ({"notifications": [{"url": SLACK, "events": ["delivered", "exploded"]}]},
     "notifications[0].events: unknown event 'exploded' (known: queued, delivered, failed, cancelled, "
     "reconnect_needed, relogin_soon, tunnel_down, digest, comment_created, comment_completed, approved)"),
    ({"notifications": [{"url": SLACK}]}, "notifications[0].events: required"),
    ({"notifications": [{"url": SLACK, "events": []}]}, "notifications[0].events: name at least one event"),
    ({"notifications": [{"url": SLACK, "events": ["failed"], "pipelines": ["nope"]}]},
     "notifications[0].pipelines: unknown pipeline 'nope' (known: none)"),
    ({"notifications": [{"url": SLACK, "events": ["failed"], "batch_window_s": -1}]},
     "notifications[0].batch_window_s: must be 0 or more"),
    ({"notifications": {"url": SLACK}}, "notifications: expected a list of objects, got dict"),
    ({"webhooks": [HOOK, HOOK]}, "webhooks[1]: repeats webhooks[0] (the same URL, events and pipelines)"),
    ({"webhooks": [HOOK | {"secret": ""}]}, "webhooks[0].secret: required (or give the file holding it as <key>_file)"),
    ({"webhooks": [HOOK | {"url": "ftp://example.com/x"}]}, "webhooks[0].url: expected an http(s) URL"),
    ({"webhooks": [HOOK | {"signed": False}]}, "webhooks[0].signed: unknown key"),
    ({"outbound": {"digest_at": "9am"}}, "outbound.digest_at: expected a local time HH:MM (24 h), got '9am'"),
])
def test_a_bad_rule_is_a_config_error_naming_the_key(data, error):
    message = error_of(data)
    assert message.startswith(error), message
    assert "T1JJ3T3L2" not in message and "xyz" not in message.split(":", 1)[1]  # the URL is a secret


def test_secrets_come_from_files_also_inside_lists_and_as_a_whole_list(tmp_path):
    (tmp_path / "slack").write_text(SLACK + "\n")
    (tmp_path / "hook-secret").write_text(HOOK["secret"])
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({
        "notifications": [{"url_file": str(tmp_path / "slack"), "events": ["failed"]}],
        "webhooks": [{"url": HOOK["url"], "secret_file": str(tmp_path / "hook-secret"), "events": ["delivered"]}]}))
    config = load_config(config_path, env={})
    assert config.notifications[0].url == SLACK and config.webhooks[0].secret == HOOK["secret"]

    (tmp_path / "webhooks.json").write_text(json.dumps([HOOK]))
    from_file = load_config(env={"POSTFLOW__WEBHOOKS_FILE": str(tmp_path / "webhooks.json")})
    assert from_file.webhooks[0].secret == HOOK["secret"]
    from_variable = load_config(env={"POSTFLOW__NOTIFICATIONS": json.dumps([{"url": SLACK, "events": ["failed"]}])})
    assert from_variable.notifications[0].url == SLACK
    missing = {"webhooks": [{"url": HOOK["url"], "secret_file": str(tmp_path / "nope"), "events": ["delivered"]}]}
    assert error_of(missing).startswith("webhooks[0].secret_file: cannot read")


def test_secrets_are_masked_where_the_config_is_shown_and_known_to_the_log_mask():
    config = build_config({"notifications": [{"url": SLACK, "events": ["failed"]}], "webhooks": [HOOK]})
    shown = json.dumps(to_dict(config))
    assert SLACK not in shown and HOOK["secret"] not in shown and HOOK["url"] not in shown
    assert json.loads(shown)["webhooks"][0]["events"] == ["delivered"]
    assert {SLACK, HOOK["secret"], HOOK["url"]} <= set(secret_values(config))
