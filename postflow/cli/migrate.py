"""`postflow migrate-config OLD [-o NEW]`: a v3 (server-to-server, JWT private key, manual
token refresh) config becomes a v4 one (OAuth web app, automatic refresh, API v4), plus the
steps the user must take in the Adobe Developer Console, which no file edit can do for them.

The v3 client id belonged to the server-to-server credential and is not reused: the web app
gets its own client id and secret from a new OAuth Web App credential."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from postflow.core.config import (
    V3_KEYS,
    ConfigError,
    FrameioConfig,
    build_config,
    read_json_file,
    split_address,
)
from postflow.core.files import write_private

CONSOLE_URL = "https://developer.adobe.com/console"
FRAMEIO_KEYS = {f.name for f in dataclasses.fields(FrameioConfig)}


class MigrationError(ValueError):
    """The input cannot be migrated; the message says why."""


def migrate_config(old: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the v4 config, the Adobe Developer Console steps to take). Raises MigrationError."""
    if not isinstance(old, dict):
        raise MigrationError("the top level must be a JSON object")
    frameio = old.get("frameio")
    if not isinstance(frameio, dict):
        raise MigrationError("no `frameio` section: this is not a PostFlow v3 config")
    found = [key for key in V3_KEYS if key in frameio]
    if not found:
        raise MigrationError(f"not a v3 config: `frameio` has none of {', '.join(V3_KEYS)} "
                             "(it looks like a v4 config already; check it with `postflow check-config`)")
    kept = {key: value for key, value in frameio.items()
            if key in FRAMEIO_KEYS and key not in ("client_id", "client_secret", "oauth_web_app",
                                                    "client_credentials", "auto_token_refresh", "api_version")}
    dropped = sorted(key for key in frameio if key not in FRAMEIO_KEYS and key not in V3_KEYS)
    if urlsplit(str(kept.get("api_base_url", ""))).path.strip("/"):
        dropped.append("api_base_url")  # a v2/v3 URL with a version path; v4 paths are added by PostFlow
        del kept["api_base_url"]
    redirect_uri = str(kept.pop("redirect_uri", "") or default_redirect_uri(old))
    new = {"frameio": {"oauth_web_app": True, "client_id": "", "client_secret": "", "auto_token_refresh": True,
                       "api_version": "v4", "redirect_uri": redirect_uri, **kept},
           **{key: value for key, value in old.items() if key != "frameio"}}
    steps = console_steps(redirect_uri, frameio.get("private_key_path"), str(frameio.get("client_id") or ""))
    if dropped:
        steps.append("These v3 keys were dropped (v4 has no use for them): "
                     + ", ".join(f"frameio.{key}" for key in dropped) + ".")
    problem = remaining_problem(new)
    if problem:
        steps.append(f"The converted config still needs a fix before PostFlow starts: {problem}.")
    return new, steps


def default_redirect_uri(old: dict[str, Any]) -> str:
    dashboard = old.get("dashboard")
    listen = (dashboard.get("listen") if isinstance(dashboard, dict) else None) or "127.0.0.1:8000"
    try:
        _, port = split_address(str(listen), "dashboard.listen")
    except ConfigError:
        port = 8000
    return f"https://localhost:{port}/auth/callback"


def console_steps(redirect_uri: str, private_key_path: Any, old_client_id: str) -> list[str]:
    steps = [
        f"Open the Adobe Developer Console ({CONSOLE_URL}) and the project that holds the Frame.io API.",
        "Add a credential for the Frame.io API: User Authentication → OAuth Web App.",
        f"Set its Default redirect URI to {redirect_uri} and its Redirect URI pattern to "
        f"{re.escape(redirect_uri)} (IMS requires HTTPS, even for localhost; the dashboard must be "
        "reachable at that address from the browser that signs in).",
        f"Select the scopes {FrameioConfig.scopes} (offline_access is what gives PostFlow a refresh token).",
        "Copy the credential's Client ID into frameio.client_id, and its Client Secret into "
        "frameio.client_secret — or better, keep the secret out of the file: POSTFLOW__FRAMEIO__CLIENT_SECRET "
        "or frameio.client_secret_file.",
        "While the credential is \"in development\", only users listed on it may sign in: add the Frame.io "
        "user PostFlow will act as.",
        "Start PostFlow and connect Frame.io once from the dashboard (Connect) or with `postflow login`; "
        "tokens are then refreshed automatically.",
    ]
    retire = "Once uploads work, delete the old server-to-server credential"
    if old_client_id:
        retire += f" (client id {old_client_id})"
    if private_key_path:
        retire += f" and the private key file {private_key_path}, which v4 no longer uses"
    steps.append(retire + ".")
    steps.append("Accounts managed in the Adobe Admin Console may use an OAuth Server-to-Server credential "
                 "instead: set frameio.client_credentials to true and oauth_web_app to false, with that "
                 "credential's client id and secret; no login is needed then.")
    return steps


def remaining_problem(new: dict[str, Any]) -> str:
    """A problem the v4 loader would report outside the credentials the user fills in."""
    try:
        build_config(new)
    except ConfigError as exc:
        return str(exc)
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="postflow migrate-config",
                                     description="Convert a v3 (server-to-server) config to v4 (OAuth web app).")
    parser.add_argument("old", type=Path, help="the v3 config (JSON)")
    parser.add_argument("-o", "--output", type=Path, help="where to write the v4 config (default: stdout)")
    args = parser.parse_args(argv)
    try:
        if args.output is not None and args.output.resolve() == args.old.resolve():
            raise MigrationError(f"{args.output}: refusing to overwrite the v3 config; write the v4 one elsewhere")
        new, steps = migrate_config(read_json_file(args.old))
    except (MigrationError, ConfigError) as exc:
        print(f"postflow migrate-config: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(new, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_private(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    print("\nNext, in the Adobe Developer Console:", file=sys.stderr)
    for number, step in enumerate(steps, 1):
        print(f"  {number}. {step}", file=sys.stderr)
    return 0
