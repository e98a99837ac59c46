"""`postflow check-config` warns (exit 0) about an OAuth redirect that Adobe IMS will not
follow or that lands on a port speaking the other protocol, and refuses (exit 2) bad TLS files."""

from __future__ import annotations

import json

import pytest

from postflow.cli.main import main

EMULATOR = "http://127.0.0.1:8790"


def check(tmp_path, capsys, frameio: dict | None = None, dashboard: dict | None = None) -> tuple[int, list[str]]:
    (tmp_path / "watch").mkdir(exist_ok=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"frameio": {"client_id": "id", "client_secret": "secret", **(frameio or {})},
                                "dashboard": dashboard or {}, "watch": {"root": str(tmp_path / "watch")},
                                "state_dir": str(tmp_path / "state")}))
    code = main(["check-config", "-c", str(path)])
    return code, capsys.readouterr().err.splitlines()


def warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("warning: ")]


def test_the_defaults_serve_the_https_redirect_without_a_warning(tmp_path, capsys):
    code, lines = check(tmp_path, capsys)
    assert code == 0 and lines[-1] == "config OK" and warnings(lines) == []
    assert 'dashboard: https://127.0.0.1:8000/ (self-signed certificate, dashboard.tls "auto")' in lines


def test_an_http_redirect_for_the_real_ims_is_a_warning(tmp_path, capsys):
    code, lines = check(tmp_path, capsys, frameio={"redirect_uri": "http://127.0.0.1:8000/auth/callback"})
    assert code == 0 and lines[-1] == "config OK"
    [warning] = warnings(lines)
    assert warning.startswith("warning: frameio.redirect_uri is http://127.0.0.1:8000/auth/callback: Adobe IMS "
                              "redirects only to https URIs")
    assert 'dashboard: http://127.0.0.1:8000/ (no TLS, dashboard.tls "auto")' in lines


@pytest.mark.parametrize("ims", [EMULATOR, "http://emulator:8790", "https://localhost:8790"])
def test_an_http_loopback_redirect_for_an_emulator_is_fine(tmp_path, capsys, ims):
    code, lines = check(tmp_path, capsys, frameio={"redirect_uri": "http://127.0.0.1:8000/auth/callback",
                                                   "ims_base_url": ims, "api_base_url": ims})
    assert code == 0 and warnings(lines) == []


def test_an_https_redirect_to_a_dashboard_without_tls_is_a_warning(tmp_path, capsys):
    code, lines = check(tmp_path, capsys, dashboard={"tls": "off"})
    assert code == 0 and lines[-1] == "config OK"
    [warning] = warnings(lines)
    assert warning.startswith("warning: frameio.redirect_uri https://localhost:8000/auth/callback comes to this "
                              'dashboard over https, but dashboard.tls is "off"')


def test_an_http_redirect_to_a_tls_dashboard_is_a_warning(tmp_path, capsys):
    code, lines = check(tmp_path, capsys, frameio={"redirect_uri": "http://localhost:8000/auth/callback",
                                                   "ims_base_url": EMULATOR},
                        dashboard={"tls": "self-signed"})
    assert code == 0
    [warning] = warnings(lines)
    assert "comes to this dashboard over http, but the dashboard serves https" in warning


def test_an_https_redirect_elsewhere_is_not_this_dashboards_business(tmp_path, capsys):
    code, lines = check(tmp_path, capsys, frameio={"redirect_uri": "https://postflow.example.com/auth/callback"},
                        dashboard={"tls": "off"})
    assert code == 0 and warnings(lines) == []


def test_bad_tls_files_are_a_config_error(tmp_path, capsys):
    (tmp_path / "cert.pem").write_text("not a certificate")
    code, lines = check(tmp_path, capsys, dashboard={"tls_cert": str(tmp_path / "cert.pem"),
                                                     "tls_key": str(tmp_path / "key.pem")})
    assert code == 2
    assert lines == [f"postflow: config error: dashboard.tls_cert: {tmp_path}/cert.pem does not hold a PEM "
                     "certificate"]
