"""The encrypted token store: Fernet (AES-128-CBC + HMAC-SHA256) with a key kept apart from
the ciphertext, written so that a crash at any instant leaves the newest complete record.

Two slot files take turns; each record carries a sequence number and the newest slot that
decrypts wins. A torn or half-written slot fails Fernet's HMAC and the other slot (the
previous record, already fsynced) is read instead: the effect of temp file + rename, with a
commit point that is one small write() instead of a rename. That matters for rotation: once
the write() returns, a process started after this one is SIGKILLed reads the new refresh
token (the page cache is shared); a rename on ext4 costs a data flush first (about a
millisecond here), a write() some microseconds. The fsync follows, for power loss."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from postflow.core.config import Config, ConfigError
from postflow.core.files import fsync_dir

log = logging.getLogger(__name__)

KEY_FILE = "token.key"
SLOTS_NAME = "tokens"  # the slots tokens.0.enc and tokens.1.enc


class StoreUnreadable(Exception):
    """The token file exists but cannot be decrypted with the configured key (or is corrupt)."""


def auth_dir(config: Config) -> Path:
    return config.state_path / "auth"


def load_key(config: Config) -> bytes:
    """The Fernet key: `auth.token_key` (config, env or `_FILE`), else `<state_dir>/auth/token.key`,
    generated with mode 0600 on first run."""
    if config.auth.token_key:
        return _checked(config.auth.token_key.strip().encode(), "auth.token_key")
    path = auth_dir(config) / KEY_FILE
    try:
        return _checked(path.read_bytes().strip(), f"auth.token_key (file {path})")
    except FileNotFoundError:
        pass
    _private_dir(path.parent)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first
        return _checked(path.read_bytes().strip(), f"auth.token_key (file {path})")
    except OSError as exc:
        raise ConfigError(f"auth.token_key: cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
        out.flush()
        os.fsync(out.fileno())
    log.info("generated a new token key in %s", path)
    return key


def _checked(key: bytes, where: str) -> bytes:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: not a Fernet key (32 url-safe base64-encoded bytes)") from None
    return key


def _private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"state_dir: cannot create {path}: {exc.strerror}") from None


class TokenStore:
    """The newest of two encrypted slots in `directory`, `<name>.0.enc` and `<name>.1.enc`.
    Call load() before save()."""

    def __init__(self, directory: Path, key: bytes, name: str = SLOTS_NAME) -> None:
        self.directory = directory
        self._fernet = Fernet(key)
        self._name = name
        self._seq = 0

    @property
    def paths(self) -> list[Path]:
        return [self.directory / f"{self._name}.{slot}.enc" for slot in (0, 1)]

    def load(self) -> dict[str, Any] | None:
        """The newest record, or None when there is none."""
        found, newest = False, None
        for path in self.paths:
            try:
                blob = path.read_bytes()
            except FileNotFoundError:
                continue
            found = True
            record = self._decrypt(blob)
            if record is not None and (newest is None or record["seq"] > newest["seq"]):
                newest = record
        if newest is None:
            if found:
                raise StoreUnreadable(f"the token store in {self.directory} cannot be decrypted with the "
                                      "configured token key")
            return None
        self._seq = newest.pop("seq")
        return newest

    def _decrypt(self, blob: bytes) -> dict[str, Any] | None:
        try:
            record = json.loads(self._fernet.decrypt(blob))
        except (InvalidToken, ValueError):
            return None  # another key, or a slot torn by a crash mid-write
        return record if isinstance(record, dict) and isinstance(record.get("seq"), int) else None

    def save(self, record: dict[str, Any]) -> None:
        """Writes the record into the older slot. Synchronous on purpose: nothing else runs on
        the event loop until it is written."""
        _private_dir(self.directory)
        seq = self._seq + 1
        blob = self._fernet.encrypt(json.dumps({**record, "seq": seq}, separators=(",", ":")).encode())
        path = self.paths[seq % 2]
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if os.write(fd, blob) != len(blob):  # the commit point (see the module docstring)
                raise OSError(errno.ENOSPC, "short write")
            self._seq = seq
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.directory)

    def wipe(self) -> None:
        removed = False
        for path in self.paths:
            if path.exists():
                path.unlink()
                removed = True
        if removed:
            fsync_dir(self.directory)
        self._seq = 0
