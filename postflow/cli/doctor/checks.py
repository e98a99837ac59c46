"""The checks of `postflow doctor` that change nothing: the config, IMS and Frame.io answering,
the services, the watch root, the Frame.io login and its re-login deadline, the project
PostFlow delivers into, the public URL Frame.io pulls from, and Frame.io's webhooks (`hooks`)."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import grpc
import httpx

from postflow.cli.commands import gather_status
from postflow.cli.config_check import checked_config, config_warnings
from postflow.cli.doctor.hooks import CHECK as HOOKS_CHECK
from postflow.cli.doctor.hooks import check_frameio_hooks
from postflow.cli.doctor.report import Report
from postflow.core.clients import Clients
from postflow.core.config import CONFIG_ENV, Config, ConfigError
from postflow.core.dates import iso_utc_minute
from postflow.core.errors import from_rpc_error
from postflow.core.net import is_loopback
from postflow.core.pipelines import connections_of
from postflow.frameio import AuthTokens, FrameioClient, FrameioError, ProjectRef, ReconnectNeeded, RequestFailed
from services.auth.ims import TOKEN_PATH
from services.watcher.projects import Projects
from services.watcher.routing import Router

FRAMEIO_ME_PATH = "/v4/me"
LOGIN_FIX = "connect Frame.io again: `postflow login` (or the dashboard's Connect button)"
RETRY_FIX = "Frame.io or the network is struggling: run the doctor again in a few minutes"
REACH_TIMEOUT_S = 15.0  # for a first answer from IMS, Frame.io or the public URL


def explain(exc: FrameioError | grpc.RpcError | httpx.HTTPError) -> tuple[str, str]:
    """A failed Frame.io, PostFlow or HTTP call as (what happened, what to do)."""
    if isinstance(exc, ReconnectNeeded):
        return str(exc), LOGIN_FIX
    if isinstance(exc, RequestFailed):
        return str(exc), "Frame.io refused: check that the connected user may upload into the project"
    if isinstance(exc, FrameioError):
        return str(exc), RETRY_FIX
    if isinstance(exc, grpc.RpcError):
        return str(from_rpc_error(exc)), "see `postflow status` and the services' logs"
    return f"{type(exc).__name__} {exc}".rstrip(), RETRY_FIX


def local_only(url: str) -> bool:
    """Whether `url` names this machine or a private network (a literal address or localhost):
    somewhere Frame.io's servers cannot fetch from."""
    host = urlsplit(url).hostname or ""
    if is_loopback(host):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:  # a name: whoever resolves it decides
        return False


def check_config(path: str | None, report: Report) -> Config | None:
    """What `postflow check-config` checks, its warnings as `!` lines; None (after a ✗) when
    the config is unusable."""
    source = path or os.environ.get(CONFIG_ENV)
    try:
        config = checked_config(source)
    except ConfigError as exc:
        report.fail("config", str(exc), "correct that key (`postflow check-config` checks it alone)")
        return None
    report.ok("config", f"{source or 'built-in defaults and POSTFLOW__ variables'} loads and validates")
    for warning in config_warnings(config):
        report.warn("config", warning)
    return config


async def answer(http: httpx.AsyncClient, url: str) -> str:
    """`HTTP <status>` when `url` answers at all, else the error (an exception's name and text)."""
    try:
        response = await http.get(url, timeout=REACH_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__} {exc})".rstrip()
    return f"HTTP {response.status_code}"


def time_left(deadline: datetime, now: datetime) -> str:
    """`13 days`, `20 hours`, `5 minutes` (rounded)."""
    left_s = max(0.0, (deadline - now).total_seconds())
    for unit, unit_s in (("days", 86400), ("hours", 3600)):
        if left_s >= 2 * unit_s:
            return f"{round(left_s / unit_s)} {unit}"
    return f"{round(left_s / 60)} minutes"


def report_login(auth: dict, report: Report, now: datetime | None = None) -> bool:
    """The token state and the re-login deadline from the auth service's status (as
    `postflow status --json` shows it); whether Frame.io is connected."""
    who = auth["email"] or auth["user"] or "the Frame.io user"
    why = f": {auth['message']}" if auth["message"] else ""
    if auth["state"] != "connected":
        state = "reconnect needed" if auth["state"] == "reconnect_needed" else "not connected"
        report.fail("Frame.io login", state + why, LOGIN_FIX)
        return False
    if not auth["reauth_deadline"]:
        renew = " (server-to-server: no login to renew)" if auth["grant"] == "server_to_server" else ""
        report.ok("Frame.io login", f"connected as {who}{renew}")
        return True
    deadline = datetime.fromisoformat(auth["reauth_deadline"])
    detail = (f"connected as {who}; reconnect by {iso_utc_minute(auth['reauth_deadline'])} "
              f"(in {time_left(deadline, now or datetime.now(UTC))})")
    if auth["reauth_soon"]:
        report.warn("Frame.io login", detail, "log in again before then: `postflow login`")
    else:
        report.ok("Frame.io login", detail)
    return True


@dataclass
class Checks:
    config: Config
    clients: Clients
    http: httpx.AsyncClient
    frameio: FrameioClient
    report: Report

    async def run(self) -> ProjectRef | None:
        """Runs every check, printing a line for each; the project when Frame.io named it."""
        frameio = self.config.frameio
        ims, api, status = await asyncio.gather(
            answer(self.http, frameio.ims_base_url.rstrip("/") + TOKEN_PATH),
            answer(self.http, frameio.api_base_url.rstrip("/") + FRAMEIO_ME_PATH),
            gather_status(self.config, self.clients))
        self.reachable("IMS", "frameio.ims_base_url", frameio.ims_base_url, ims)
        self.reachable("Frame.io API", "frameio.api_base_url", frameio.api_base_url, api)
        self.services(status["services"])
        self.watch_root(status["watch_root"])
        project = None
        if status["auth"] is None:
            self.report.skip("Frame.io login", "the auth service is not serving")
            self.report.skip("project", "the auth service is not serving")
        elif report_login(status["auth"], self.report):
            project = await self.project()
            await self.named_projects()
        else:
            self.report.skip("project", "Frame.io is not connected")
        await self.public_url(status["tunnel"])
        if status["services"]["watcher"] == "SERVING":
            await check_frameio_hooks(self.config, self.report)
        else:
            self.report.skip(HOOKS_CHECK, "the watcher is not serving")
        return project

    def reachable(self, name: str, key: str, url: str, outcome: str) -> None:
        if outcome.startswith("HTTP "):
            self.report.ok(name, f"{url} answers ({outcome})")
        else:
            self.report.fail(name, f"{url}: {outcome}", f"check {key}, DNS, the proxy settings and the firewall")

    def services(self, health: dict[str, str]) -> None:
        down = {name: state for name, state in health.items() if state != "SERVING"}
        if not down:
            self.report.ok("services", f"{', '.join(health)} serving")
            return
        detail = ", ".join(f"{name} {state.lower().replace('_', ' ')}" for name, state in down.items())
        logs = self.config.state_path / "logs"
        self.report.fail("services", detail, f"start PostFlow (`postflow up`); its logs are in {logs}")

    def watch_root(self, root: dict | None) -> None:
        if root is None:
            self.report.skip("watch root", "the watcher is not serving")
        elif root["available"]:
            self.report.ok("watch root", f"{root['path']} available")
        else:
            self.report.fail("watch root", f"{root['path']}: {root['problem']}", "mount it or correct watch.root")

    async def project(self) -> ProjectRef | None:
        """The account and project PostFlow delivers into, asked of Frame.io with PostFlow's token."""
        try:
            project = await self.frameio.project()
        except FrameioError as exc:
            self.report.fail("project", *explain(exc))
            return None
        others = project.candidates - 1
        if others:
            self.report.warn("project", f"{project.describe()}, and {others} other project{'s' if others > 1 else ''} "
                                        "visible", "set frameio.project_id to pin the one PostFlow delivers into")
        else:
            self.report.ok("project", project.describe())
        return project

    async def named_projects(self) -> None:
        """Each project the pipelines name outright, looked up as deliveries will (one line each)."""
        connections = connections_of(self.config)
        for named in Router(self.config).named_projects():
            settings = connections[named.connection]
            frameio = FrameioClient(dataclasses.replace(self.config.frameio, account_id=settings.account_id),
                                    AuthTokens(self.clients.auth, connection=named.connection), self.http,
                                    max_retries=self.frameio.max_retries)
            try:
                found = await Projects(frameio).resolve(named.project, create=False)
            except RequestFailed as exc:
                if named.create and "no project named" in str(exc):
                    self.report.ok(named.key, f"{named.project!r} will be created at the first delivery")
                else:
                    self.report.fail(named.key, str(exc), f"correct {named.key}")
            except FrameioError as exc:
                self.report.fail(named.key, *explain(exc))
            else:
                self.report.ok(named.key, found.describe())

    async def public_url(self, tunnel: dict | None) -> None:
        """The streamer's public URL must lead to the streamer: its `/livez` answers 200."""
        fix = "check streamer.tunnel (cloudflared, public_base_url) and `postflow status`"
        if tunnel is None:
            self.report.skip("public URL", "the streamer is not serving")
            return
        if tunnel["state"] != "up" or not tunnel["url"]:
            self.report.fail("public URL", f"the {tunnel['mode']} tunnel is {tunnel['state']}, "
                                           f"URL {tunnel['url'] or 'not known yet'}", fix)
            return
        url = tunnel["url"].rstrip("/")
        if local_only(url) and not local_only(self.config.frameio.api_base_url):
            self.report.fail("public URL", f"{url} is a local address: Frame.io's servers cannot fetch from it",
                             "give the streamer a public URL (streamer.tunnel.mode quick or named, or "
                             "public_base_url)")
            return
        started = time.monotonic()
        try:
            response = await self.http.get(f"{url}/livez", timeout=REACH_TIMEOUT_S)
        except httpx.HTTPError as exc:
            self.report.fail("public URL", f"{url} does not answer ({type(exc).__name__} {exc})".rstrip(), fix)
            return
        if response.status_code != 200:
            self.report.fail("public URL", f"{url}/livez answered HTTP {response.status_code}, not the streamer's "
                                           "200", fix)
            return
        self.report.ok("public URL", f"{url} leads to the streamer ({time.monotonic() - started:.2f} s)")
