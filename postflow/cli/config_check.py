"""`postflow check-config`: the config validated as the services will read it (a bad key is a
config error, exit 2), then what is valid but will not work against the real Adobe IMS,
as warnings (exit 0)."""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import urlsplit

from postflow.core.config import (
    Config,
    dashboard_tls,
    dashboard_url,
    load_config,
    redirect_reaches_dashboard,
    require_client,
)
from postflow.core.config_secrets import to_dict
from postflow.core.net import is_loopback
from postflow.core.pipelines import require_roots
from services.dashboard.tls import load_configured

TLS_SHOWN = {"files": "dashboard.tls_cert", "self-signed": "self-signed certificate", "off": "no TLS"}


def cmd_check_config(args: argparse.Namespace) -> int:
    config = checked_config(args.config)
    tls = dashboard_tls(config)
    print(json.dumps(to_dict(config), indent=2))
    for warning in config_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"dashboard: {dashboard_url(config)}/ ({TLS_SHOWN[tls]}, dashboard.tls \"{config.dashboard.tls}\")",
          file=sys.stderr)
    print("config OK", file=sys.stderr)
    return 0


def checked_config(path: str | None) -> Config:
    """The config as the services will read it, with what they need to start: the client
    credentials, each pipeline's root (writable when its after_delivery writes), and the
    dashboard's certificate files when it has some. ConfigError naming the key otherwise
    (`check-config` and `doctor`)."""
    config = load_config(path)
    require_client(config)
    require_roots(config)
    if dashboard_tls(config) == "files":
        load_configured(config)
    return config


def real_ims(config: Config) -> bool:
    """Whether frameio.ims_base_url is Adobe's IMS rather than an emulator (which speaks plain
    HTTP, usually on loopback)."""
    ims = urlsplit(config.frameio.ims_base_url)
    return ims.scheme == "https" and not is_loopback(ims.hostname or "")


def config_warnings(config: Config) -> list[str]:
    """What is valid but will not work, or is unsafe: an OAuth redirect that IMS refuses or
    that lands on a port speaking the other protocol; services that trust every caller."""
    redirect = config.frameio.redirect_uri
    https = redirect.startswith("https://")
    warnings = []
    if not config.mesh.mtls:
        warnings.append("mesh.mtls is off: every gRPC port is plaintext and anyone who reaches one may do anything "
                        "(take a Frame.io token, disconnect Frame.io, publish any file, cancel jobs); for a lab "
                        "only, set it to true")
    if not https and real_ims(config):
        warnings.append(f"frameio.redirect_uri is {redirect}: Adobe IMS redirects only to https URIs (to the "
                        "credential's Default Redirect URI otherwise), so the login would not come back; use "
                        "https (the dashboard serves it, see dashboard.tls)")
    if redirect_reaches_dashboard(config):
        tls = dashboard_tls(config)
        if https and tls == "off":
            warnings.append(f"frameio.redirect_uri {redirect} comes to this dashboard over https, but dashboard.tls "
                            "is \"off\": the browser would land on a port that does not speak TLS; set dashboard.tls "
                            "to \"auto\" or give dashboard.tls_cert and dashboard.tls_key")
        elif not https and tls != "off":
            warnings.append(f"frameio.redirect_uri {redirect} comes to this dashboard over http, but the dashboard "
                            f"serves https ({TLS_SHOWN[tls]}): write the redirect URI with https")
    return warnings
