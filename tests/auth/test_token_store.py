"""The token store at rest: unreadable without its key, key generated 0600 when none is
configured, atomic writes, and a service that survives a wrong key without losing the file."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet, InvalidToken

from postflow.core.config import ConfigError, load_config, write_config
from postflow.core.service import Runtime
from postflow.testing.auth import auth_config, config_dict, login, running_auth, stored_record, token_files
from postflow.testing.emulator import issued_tokens
from postflow.v1 import auth_pb2
from services.auth.server import build_service
from services.auth.token_store import KEY_FILE, TokenStore


def config_without_key(tmp_path, emulator_url: str, **extra):
    raw = config_dict(tmp_path / "state", emulator_url)
    del raw["auth"]["token_key"]
    raw["auth"].update(extra)
    write_config(raw, tmp_path / "config.json")
    return load_config(tmp_path / "config.json", env={})


@pytest.mark.asyncio
async def test_the_store_is_unreadable_without_its_key(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        await login(auth.stub)
        await auth.stub.GetAccessToken(auth_pb2.GetAccessTokenRequest(force_refresh=True))
    files = token_files(config)
    slots = ["tokens.0.enc", "tokens.1.enc"]  # the default connection's, as before there were several
    assert sorted(p.name for p in files) == slots  # and nothing else in the folder
    assert sorted(p.name for p in files[0].parent.iterdir()) == slots
    for path in files:
        blob = path.read_bytes()
        for token in await issued_tokens(emulator.url):
            assert token["value"].encode() not in blob
        assert config.frameio.client_secret.encode() not in blob
        with pytest.raises(InvalidToken):
            Fernet(Fernet.generate_key()).decrypt(blob)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stored_record(config)["grant"]["access_token"]  # readable with the key


@pytest.mark.asyncio
async def test_a_key_is_generated_0600_on_first_run_and_reused(tmp_path, emulator):
    config = config_without_key(tmp_path, emulator.url)
    key_file = config.state_path / "auth" / KEY_FILE
    async with running_auth(config) as auth:
        await login(auth.stub)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key_file.parent).st_mode) == 0o700
    key = key_file.read_bytes()
    assert TokenStore(config.state_path / "auth", key.strip()).load()["state"] == "AUTH_STATE_CONNECTED"
    async with running_auth(config) as auth:
        status = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())
        assert status.state == auth_pb2.AUTH_STATE_CONNECTED
    assert key_file.read_bytes() == key


@pytest.mark.asyncio
async def test_a_wrong_key_means_reconnect_needed_and_the_file_is_kept(tmp_path, emulator):
    config = auth_config(tmp_path, emulator.url)
    async with running_auth(config) as auth:
        await login(auth.stub)
    blobs = [path.read_bytes() for path in token_files(config)]
    other = auth_config(tmp_path, emulator.url)  # same state dir, new random key
    assert other.auth.token_key != config.auth.token_key
    async with running_auth(other) as auth:
        status = await auth.stub.GetStatus(auth_pb2.GetAuthStatusRequest())
        assert status.state == auth_pb2.AUTH_STATE_RECONNECT_NEEDED and "auth.token_key" in status.message
        assert [path.read_bytes() for path in token_files(config)] == blobs
        assert (await login(auth.stub)).state == auth_pb2.AUTH_STATE_CONNECTED


def test_a_malformed_key_or_missing_secret_is_a_config_error(tmp_path):
    raw = config_dict(tmp_path / "state", "http://127.0.0.1:9")
    raw["auth"]["token_key"] = "not-a-fernet-key"
    write_config(raw, tmp_path / "bad-key.json")
    with pytest.raises(ConfigError, match="auth.token_key"):
        build_service(Runtime(load_config(tmp_path / "bad-key.json", env={})))
    raw = config_dict(tmp_path / "state", "http://127.0.0.1:9")
    del raw["frameio"]["client_secret"]
    write_config(raw, tmp_path / "no-secret.json")
    with pytest.raises(ConfigError, match="frameio.client_secret"):
        build_service(Runtime(load_config(tmp_path / "no-secret.json", env={})))


def test_the_key_may_come_from_the_environment_or_a_file(tmp_path):
    key = Fernet.generate_key().decode()
    (tmp_path / "key").write_text(key + "\n")
    raw = config_dict(tmp_path / "state", "http://127.0.0.1:9")
    del raw["auth"]["token_key"]
    write_config(raw, tmp_path / "c.json")
    for env in ({"POSTFLOW__AUTH__TOKEN_KEY": key}, {"POSTFLOW__AUTH__TOKEN_KEY_FILE": str(tmp_path / "key")}):
        service = build_service(Runtime(load_config(tmp_path / "c.json", env=env)))
        store = TokenStore(service.store_dir, service.store_key)
        store.load()
        store.save({"probe": 1})
        assert TokenStore(service.store_dir, key.encode()).load() == {"probe": 1}
    assert not (tmp_path / "state" / "auth" / KEY_FILE).exists()


def test_the_newest_complete_record_wins_even_after_a_torn_write(tmp_path):
    key = Fernet.generate_key()
    store = TokenStore(tmp_path / "auth", key)
    assert store.load() is None
    for n in range(5):
        store.save({"n": n})
        assert TokenStore(tmp_path / "auth", key).load() == {"n": n}
    newest = store.paths[5 % 2]  # the fifth save
    newest.write_bytes(newest.read_bytes()[:57])  # a crash or power cut in the middle of the write
    reopened = TokenStore(tmp_path / "auth", key)
    assert reopened.load() == {"n": 3}
    reopened.save({"n": 5})
    assert TokenStore(tmp_path / "auth", key).load() == {"n": 5}
    reopened.wipe()
    assert not any(p.exists() for p in store.paths) and TokenStore(tmp_path / "auth", key).load() is None
