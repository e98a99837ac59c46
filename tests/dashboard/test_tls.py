"""The dashboard over HTTPS: a self-signed certificate made in the state dir (key 0600, reused
across restarts, made again when it expires or misses a name), a given certificate and key,
bad files as config errors naming the key, Secure cookies, and the probes over https."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import ssl
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from postflow.cli.commands import dashboard_health
from postflow.core.config import Config, ConfigError, DashboardConfig, build_config, dashboard_tls, dashboard_url
from postflow.core.service import Runtime
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env
from services.dashboard.server import DashboardService, build_service
from services.dashboard.tls import CERT_FILE, KEY_FILE, certificate_holds, make_self_signed, self_signed

NAMES = ["localhost", "127.0.0.1", "::1"]


def with_dashboard(config: Config, state_dir: Path, **dashboard) -> Config:
    port = free_port()
    return dataclasses.replace(config, state_dir=str(state_dir),
                               dashboard=DashboardConfig(listen=f"127.0.0.1:{port}", **dashboard))


def verifying(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def started(config: Config) -> DashboardService:
    service = build_service(Runtime(config))
    await service.start()
    return service


def write_config(tmp_path: Path, config: Config) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"dashboard": {"listen": config.dashboard.listen, "tls": config.dashboard.tls},
                                "state_dir": config.state_dir}))
    return str(path)


def write_pair(directory: Path, names: list[str]) -> tuple[Path, Path]:
    key_pem, cert_pem = make_self_signed(names, dt.datetime.now(dt.UTC))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cert.pem").write_text(cert_pem)
    (directory / "key.pem").write_text(key_pem)
    return directory / "cert.pem", directory / "key.pem"


@pytest.mark.asyncio
async def test_self_signed_https_verified_against_the_certificate_it_made(fakes, tmp_path):
    config = with_dashboard(fakes.config, tmp_path / "state", tls="self-signed")
    cert, key = tmp_path / "state" / "dashboard" / CERT_FILE, tmp_path / "state" / "dashboard" / KEY_FILE
    service = await started(config)
    try:
        assert service.url == dashboard_url(config) and service.url.startswith("https://127.0.0.1:")
        assert key.stat().st_mode & 0o777 == 0o600
        holds = certificate_holds(x509.load_pem_x509_certificate(cert.read_bytes()))
        assert set(NAMES) <= holds
        for host in ("127.0.0.1", "localhost"):
            async with httpx.AsyncClient(verify=verifying(cert), timeout=10) as browser:
                page = await browser.get(f"https://{host}:{service.http_port}/")
                login = await browser.get(f"https://{host}:{service.http_port}/auth/login")
            assert page.status_code == 200 and login.status_code == 303
            assert "; secure" in page.headers["set-cookie"].lower(), "the CSRF cookie over TLS"
            assert login.headers["set-cookie"].startswith("postflow_oauth=")
            assert "; secure" in login.headers["set-cookie"].lower(), "the OAuth binding cookie over TLS"
        async with httpx.AsyncClient(timeout=10) as plain:
            with pytest.raises(httpx.TransportError):
                await plain.get(f"http://127.0.0.1:{service.http_port}/livez")
        assert await dashboard_health(config) == "SERVING"  # `postflow status`
        healthcheck = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "postflow.healthcheck", "--dashboard", "-c", write_config(tmp_path, config),
            env=child_env(), stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(healthcheck.communicate(), 30)
        assert (healthcheck.returncode, out.decode().strip()) == (0, "SERVING")
    finally:
        await service.stop()
    made = cert.read_bytes()
    service = await started(config)
    try:
        assert cert.read_bytes() == made, "a restart reuses the certificate"
        async with httpx.AsyncClient(verify=verifying(cert), timeout=10) as browser:
            assert (await browser.get(f"{service.url}/livez")).status_code == 200
    finally:
        await service.stop()


def test_a_self_signed_certificate_is_made_again_when_expired_or_missing_a_name(tmp_path):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    self_signed(tmp_path, NAMES, now=long_ago)
    expired = x509.load_pem_x509_certificate((tmp_path / CERT_FILE).read_bytes())
    self_signed(tmp_path, NAMES)
    renewed = x509.load_pem_x509_certificate((tmp_path / CERT_FILE).read_bytes())
    assert expired.not_valid_after_utc < dt.datetime.now(dt.UTC) < renewed.not_valid_after_utc
    self_signed(tmp_path, NAMES)
    assert x509.load_pem_x509_certificate((tmp_path / CERT_FILE).read_bytes()) == renewed, "still valid: reused"
    self_signed(tmp_path, [*NAMES, "postflow.lan"])
    assert "postflow.lan" in certificate_holds(x509.load_pem_x509_certificate((tmp_path / CERT_FILE).read_bytes()))
    (tmp_path / KEY_FILE).write_text("torn")
    self_signed(tmp_path, [*NAMES, "postflow.lan"])  # a pair that does not load is made again
    assert (tmp_path / KEY_FILE).read_text().startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.asyncio
async def test_a_given_certificate_and_key_are_served(fakes, tmp_path):
    cert, key = write_pair(tmp_path / "pki", ["localhost", "127.0.0.1"])
    config = with_dashboard(fakes.config, tmp_path / "state", tls_cert=str(cert), tls_key=str(key))
    assert dashboard_tls(config) == "files"
    service = await started(config)
    try:
        async with httpx.AsyncClient(verify=verifying(cert), timeout=10) as browser:
            assert (await browser.get(f"{service.url}/livez")).status_code == 200
    finally:
        await service.stop()
    assert not (tmp_path / "state" / "dashboard").exists(), "no self-signed certificate made"


def bad_files(tmp_path: Path) -> dict[str, tuple[dict, str]]:
    cert, key = write_pair(tmp_path / "a", NAMES)
    _, other_key = write_pair(tmp_path / "b", NAMES)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not PEM at all")
    return {
        "missing cert": ({"tls_cert": str(tmp_path / "nope.pem"), "tls_key": str(key)},
                         rf"^dashboard\.tls_cert: cannot read {tmp_path}/nope\.pem: No such file"),
        "bad cert": ({"tls_cert": str(garbage), "tls_key": str(key)},
                     r"^dashboard\.tls_cert: .*garbage\.pem does not hold a PEM certificate"),
        "bad key": ({"tls_cert": str(cert), "tls_key": str(garbage)},
                    r"^dashboard\.tls_key: .*garbage\.pem does not hold an unencrypted PEM private key"),
        "cert as key": ({"tls_cert": str(cert), "tls_key": str(cert)}, r"^dashboard\.tls_key: "),
        "mismatch": ({"tls_cert": str(cert), "tls_key": str(other_key)},
                     r"^dashboard\.tls_key: .*b/key\.pem is not the private key of the certificate in "
                     r"dashboard\.tls_cert"),
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["missing cert", "bad cert", "bad key", "cert as key", "mismatch"])
async def test_bad_tls_files_are_config_errors_naming_the_key(fakes, tmp_path, case):
    keys, message = bad_files(tmp_path)[case]
    service = build_service(Runtime(with_dashboard(fakes.config, tmp_path / "state", **keys)))
    try:
        with pytest.raises(ConfigError, match=message):
            await service.start()
    finally:
        await service.stop()


def test_tls_keys_that_contradict_each_other_are_config_errors(tmp_path):
    write_pair(tmp_path, NAMES)
    for dashboard, message in [
        ({"tls_cert": "/etc/cert.pem"}, r"dashboard\.tls_key: required with tls_cert"),
        ({"tls_key": "/etc/key.pem"}, r"dashboard\.tls_cert: required with tls_key"),
        ({"tls": "off", "tls_cert": "c.pem", "tls_key": "k.pem"}, r'dashboard\.tls: "off" contradicts'),
        ({"tls": "on"}, r"dashboard\.tls: "),
        ({"tls_cert": "c.pem", "tls_key_file": str(tmp_path / "key.pem")},
         r"dashboard\.tls_key: holds PEM text, not a path: give the file's path in tls_key \(tls_key_file would"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build_config({"dashboard": dashboard})


@pytest.mark.asyncio
async def test_the_dashboard_process_exits_2_on_a_mismatched_key(tmp_path):
    keys, _ = bad_files(tmp_path)["mismatch"]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dashboard": {"listen": f"127.0.0.1:{free_port()}", **keys},
                                  "services": {name: f"127.0.0.1:{free_port()}" for name in ("auth", "watcher",
                                                                                             "streamer")},
                                  "state_dir": str(tmp_path / "state")}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.dashboard", "-c", str(config), env=child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2, stderr.decode()
    assert b"config error: dashboard.tls_key: " in stderr and b"is not the private key" in stderr


@pytest.mark.parametrize(("redirect_uri", "listen", "tls"), [
    ("https://localhost:8000/auth/callback", "127.0.0.1:8000", "self-signed"),  # the defaults
    ("https://localhost:8000/auth/callback", "0.0.0.0:8000", "self-signed"),  # compose
    ("https://postflow.lan:8000/auth/callback", "0.0.0.0:8000", "self-signed"),
    ("https://[::1]:8000/auth/callback", "localhost:8000", "self-signed"),
    ("http://127.0.0.1:8000/auth/callback", "127.0.0.1:8000", "off"),  # the demo, the test stacks
    ("https://postflow.example.com/auth/callback", "0.0.0.0:8000", "off"),  # TLS ended by a proxy on 443
    ("https://localhost:8443/auth/callback", "127.0.0.1:8000", "off"),
    ("https://localhost:8000/auth/callback", "192.0.2.7:8000", "off"),  # localhost does not reach 192.0.2.7
])
def test_auto_serves_tls_when_the_https_redirect_comes_to_this_dashboard(redirect_uri, listen, tls):
    config = build_config({"frameio": {"redirect_uri": redirect_uri}, "dashboard": {"listen": listen}})
    assert config.dashboard.tls == "auto" and dashboard_tls(config) == tls
    assert dashboard_url(config).startswith("https://" if tls != "off" else "http://")
