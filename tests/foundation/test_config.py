import dataclasses
import json

import pydantic
import pytest

from postflow.core.config import ConfigError, TunnelConfig, load_config
from postflow.core.config_secrets import secret_values, to_dict
from postflow.core.pipelines import require_roots


def write(tmp_path, data) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_defaults_match_design():
    config = load_config(env={})
    assert config.frameio.api_version == "v4"
    assert config.frameio.oauth_web_app and config.frameio.auto_token_refresh
    assert config.streamer.tunnel.mode == "quick"
    assert config.services.auth == "localhost:50051"
    assert config.watch.exclude == (".*", "*.tmp", "*.part", "~*")
    assert config.transfer.pull_max_bytes == 50 * 1000**3


def test_file_then_env_overrides_nested_keys(tmp_path):
    path = write(tmp_path, {"watch": {"max_concurrent": 2, "include": ["*.mov"]},
                            "streamer": {"tunnel": {"mode": "none"}}})
    config = load_config(path, env={
        "POSTFLOW__WATCH__MAX_CONCURRENT": "7",
        "POSTFLOW__STREAMER__TUNNEL__PUBLIC_BASE_URL": "https://media.example.com",
        "POSTFLOW__WATCH__EXCLUDE": "*.tmp,*.part",
        "UNRELATED": "x",
    })
    assert config.watch.max_concurrent == 7
    assert config.watch.include == ("*.mov",)
    assert config.watch.exclude == ("*.tmp", "*.part")
    assert config.streamer.tunnel.mode == "none"
    assert config.streamer.tunnel.public_base_url == "https://media.example.com"


def test_secrets_from_files_in_json_and_env(tmp_path):
    (tmp_path / "secret").write_text("s3cr3t-value\n")
    (tmp_path / "key").write_text("key-value\n")
    path = write(tmp_path, {"frameio": {"client_secret_file": str(tmp_path / "secret")}})
    config = load_config(path, env={"POSTFLOW__AUTH__TOKEN_KEY_FILE": str(tmp_path / "key")})
    assert config.frameio.client_secret == "s3cr3t-value"
    assert config.auth.token_key == "key-value"
    assert "s3cr3t-value" not in repr(config)
    assert to_dict(config)["frameio"]["client_secret"] == "***"


def test_connection_and_oidc_secrets_masked_in_logs_and_shown_config(tmp_path):
    path = write(tmp_path, {
        "connections": {"agency": {"client_id": "c", "client_secret": "agency-secret"}, "plain": {}},
        "dashboard": {"oidc": {"issuer": "https://id.example.com", "client_id": "d",
                               "client_secret": "oidc-secret"}}})
    config = load_config(path, env={})
    assert {"agency-secret", "oidc-secret"} <= set(secret_values(config))
    assert "" not in secret_values(config)
    shown = to_dict(config)
    assert shown["connections"]["agency"]["client_secret"] == "***"
    assert shown["connections"]["plain"]["client_secret"] == ""
    assert shown["dashboard"]["oidc"]["client_secret"] == "***"
    assert "agency-secret" not in json.dumps(shown) and "oidc-secret" not in json.dumps(shown)


@pytest.mark.parametrize("data, env, key", [
    ({"watch": {"max_concurent": 3}}, {}, "watch.max_concurent: unknown key"),
    ({"watch": {"max_concurrent": "four"}}, {}, "watch.max_concurrent: expected a whole number"),
    ({"watch": {"max_concurrent": 0}}, {}, "watch.max_concurrent: must be at least 1"),
    ({"streamer": {"tunnel": {"mode": "magic"}}}, {}, "streamer.tunnel.mode"),
    ({"streamer": {"tunnel": {"mode": "named"}}}, {}, "streamer.tunnel.public_base_url"),
    ({"streamer": {"tunnel": {"mode": "named", "public_base_url": "https://m.example.com"}}}, {},
     "streamer.tunnel.token"),
    ({"transfer": {"mode": "teleport"}}, {}, "transfer.mode"),
    ({"transfer": {"pull_max_bytes": 50 * 1000**3 + 1}}, {},
     "transfer.pull_max_bytes: at most 50000000000 (Frame.io's remote upload limit is 50 GB"),
    ({"auth": {"refresh_margin_s": -1}}, {}, "auth.refresh_margin_s: must be 0 or more"),
    ({"auth": {"login_ttl_s": 0}}, {}, "auth.login_ttl_s: must be greater than 0"),
    ({"frameio": {"api_version": "v2"}}, {}, "frameio.api_version"),
    ({"services": {"auth": "no-port"}}, {}, "services.auth: expected HOST:PORT"),
    ({"watch": {"mirror_folders": "yes"}}, {}, "watch.mirror_folders: expected true or false"),
    ({"dashboard": {"trusted_proxies": ["proxy.local"]}}, {},
     "dashboard.trusted_proxies[0]: 'proxy.local' is not an IP address or network"),
    ({}, {"POSTFLOW__DASHBOARD__LISTEN": "nowhere"}, "dashboard.listen"),
    ({"frameio": {"client_secret_file": "/nonexistent/secret"}}, {},
     "frameio.client_secret_file: cannot read /nonexistent/secret"),
    ({"watch": []}, {}, "watch: expected an object"),
    ({"watch": None}, {}, "watch: expected an object, got NoneType"),
    ({"surprise": {}}, {}, "surprise: unknown key"),
    ({}, {"POSTFLOW__WATCH__BOGUS": "1"}, "watch.bogus: unknown key"),
    ({}, {"POSTFLOW__WATCH__INOTIFY": "yes"}, "watch.inotify: expected true or false, got 'yes'"),
    ({}, {"POSTFLOW__TRANSFER__PART_CONCURRENCY": "2.5"},
     "transfer.part_concurrency: expected a whole number, got 2.5"),
    ({"watch": {"poll_interval_s": "2"}}, {}, "watch.poll_interval_s: expected a number, got '2'"),
    ({"watch": {"stable_after_s": 0}}, {}, "watch.stable_after_s: must be greater than 0"),
    ({"streamer": {"ticket_ttl_s": 0}}, {}, "streamer.ticket_ttl_s: must be at least 1"),
    ({"watch": {"include": 5}}, {}, "watch.include: expected a list of strings, got 5"),
    ({"state_dir": True}, {}, "state_dir: expected a string, got True"),
    ({"log_level": "loud"}, {}, "log_level: expected DEBUG, INFO, WARNING or ERROR, got 'loud'"),
    ({"frameio": {"redirect_uri": "ftp://example.com/cb"}}, {}, "frameio.redirect_uri: expected an http(s) URL"),
    ({"frameio": {"oauth_web_app": False}}, {}, "frameio.oauth_web_app: set it to true"),
    ({"streamer": {"tunnel": {"cloudflared": ""}}}, {}, "streamer.tunnel.metrics: the address of the cloudflared"),
    ({"frameio": {"client_secret_file": 7}}, {}, "frameio.client_secret_file: expected a file path"),
    ({"frameio": {"unknown_file": "/etc/hostname"}}, {}, "frameio.unknown_file: unknown key"),
])
def test_errors_name_the_key(tmp_path, data, env, key):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, data), env=env)
    assert key in str(raised.value)


def test_env_values_are_json_when_they_parse_else_strings(tmp_path):
    config = load_config(write(tmp_path, {"auth": {"token_key": "from-the-file"}}), env={
        "POSTFLOW__AUTH__TOKEN_KEY": "null",
        "POSTFLOW__WATCH__INOTIFY": "true",
        "POSTFLOW__WATCH__POLL_INTERVAL_S": "3",
        "POSTFLOW__WATCH__INCLUDE": '["*.mov", "*.mxf"]',
        "POSTFLOW__DASHBOARD__ACCESS_TOKEN": "123456",
        "POSTFLOW__LOG_LEVEL": "debug",
    })
    assert config.auth.token_key is None
    assert config.watch.inotify is True
    assert config.watch.poll_interval_s == 3.0 and isinstance(config.watch.poll_interval_s, float)
    assert config.watch.include == ("*.mov", "*.mxf")
    assert config.dashboard.access_token == "123456"
    assert config.log_level == "debug"


def test_nested_secret_file_from_env_and_numbers_as_strings(tmp_path):
    (tmp_path / "tunnel-token").write_text("tunnel-secret\n")
    path = write(tmp_path, {"frameio": {"client_id": 12345}, "streamer": {"tunnel": {"mode": "named"}}})
    config = load_config(path, env={
        "POSTFLOW__STREAMER__TUNNEL__TOKEN_FILE": str(tmp_path / "tunnel-token"),
        "POSTFLOW__STREAMER__TUNNEL__PUBLIC_BASE_URL": "https://media.example.com",
    })
    assert config.streamer.tunnel.token == "tunnel-secret"
    assert config.frameio.client_id == "12345"
    assert "tunnel-secret" not in repr(config)
    assert to_dict(config)["streamer"]["tunnel"]["token"] == "***"


def test_every_bad_key_is_reported_at_once(tmp_path):
    path = write(tmp_path, {"watch": {"max_concurrent": 0}, "transfer": {"mode": "teleport"}})
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={"POSTFLOW__DASHBOARD__LISTEN": "nowhere"})
    message = str(raised.value)
    for key in ("watch.max_concurrent: must be at least 1", "transfer.mode: expected auto, pull or push",
                "dashboard.listen: expected HOST:PORT, got 'nowhere'"):
        assert key in message


def test_sections_are_frozen_and_replace_validates():
    config = load_config(env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.watch.max_concurrent = 9  # type: ignore[misc]
    assert dataclasses.replace(config.streamer.tunnel, mode="none").mode == "none"
    with pytest.raises(pydantic.ValidationError):
        dataclasses.replace(config.streamer.tunnel, mode="magic")
    with pytest.raises(pydantic.ValidationError):
        TunnelConfig(mode="named")


def test_invalid_json_names_the_file_and_line(tmp_path):
    path = write(tmp_path, '{\n  "watch": {,\n}')
    with pytest.raises(ConfigError, match=r"config\.json: invalid JSON at line 2"):
        load_config(path, env={})


def test_v3_config_is_refused_with_a_pointer_to_migrate(tmp_path):
    path = write(tmp_path, {"frameio": {"server_to_server": True, "private_key_path": "key.pem", "client_id": "x"}})
    with pytest.raises(ConfigError, match="frameio.server_to_server: .*postflow migrate-config"):
        load_config(path, env={})


def test_watch_root_must_exist(tmp_path):
    config = load_config(write(tmp_path, {"watch": {"root": str(tmp_path / "missing")}}), env={})
    with pytest.raises(ConfigError, match="watch.root: .* is not a directory"):
        require_roots(config)
    config = load_config(write(tmp_path, {"watch": {"root": str(tmp_path)}}), env={})
    assert require_roots(config) == {"default": tmp_path.resolve()}
