"""`postflow login`: connecting Frame.io from a terminal, two ways.

- Through the dashboard (the default): prints the dashboard's login address and waits until
  the auth service says connected; the browser that opens it must reach the dashboard.
- `--headless`, for a machine whose browser cannot reach the dashboard (a server over SSH, a
  container): starts the authorization itself, prints Adobe's authorize URL to open in any
  browser on any machine, then reads from stdin the address that browser ended on — the
  redirect to `frameio.redirect_uri`, whose page may well fail to load — and completes the
  login with the `code` and `state` in it. The binding that ties the login to this terminal
  is a random value that never leaves this process.

`--connection NAME` logs in one of the config's other Frame.io connections (`connections`);
without it, the default one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import threading
from typing import TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

import grpc

from postflow.cli.commands import CALL_TIMEOUT_S, run_rpc
from postflow.cli.output import named
from postflow.core.clients import Clients
from postflow.core.config import Config, dashboard_url, load_config
from postflow.core.errors import InvalidArgument, PermissionDenied, Unavailable
from postflow.core.pipelines import DEFAULT
from postflow.v1 import auth_pb2

EXCHANGE_TIMEOUT_S = 30.0  # the auth service exchanges the code with Adobe IMS


def cmd_login(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def call(clients: Clients) -> int:
        connection = args.connection
        if args.headless:
            status = await headless(clients, config, args.timeout, sys.stdin, sys.stdout, connection)
        else:
            status = await through_dashboard(clients, config, args.timeout, connection)
        print(f"connected as {status.user_name or status.user_email or 'Frame.io user'}{named(status.connection)}")
        return 0

    return run_rpc(config, call)


async def through_dashboard(clients: Clients, config: Config, timeout: float,
                            connection: str = "") -> auth_pb2.AuthStatus:
    # Asked first, so an unknown name fails at once (NOT_FOUND naming the known ones).
    await clients.auth.GetStatus(auth_pb2.GetAuthStatusRequest(connection=connection), timeout=CALL_TIMEOUT_S)
    query = f"?{urlencode({'connection': connection})}" if connection else ""
    print(f"Open this URL in a browser to connect Frame.io:\n  {dashboard_url(config)}/auth/login{query}\n"
          "(A browser that cannot reach the dashboard? Use `postflow login --headless`.)", flush=True)
    try:
        return await asyncio.wait_for(first_connected(clients, connection), timeout)
    except TimeoutError:
        raise Unavailable(f"not connected within {timeout:g}s") from None
    except grpc.RpcError as exc:
        raise Unavailable(f"auth service: {exc.details()}") from None


async def first_connected(clients: Clients, connection: str = "") -> auth_pb2.AuthStatus:
    """The connection's first CONNECTED status on auth's stream (every connection's)."""
    async for status in clients.auth.WatchStatus(auth_pb2.WatchAuthStatusRequest()):
        if status.connection == (connection or DEFAULT) and status.state == auth_pb2.AUTH_STATE_CONNECTED:
            return status
    raise Unavailable("the auth service closed the status stream")


async def headless(clients: Clients, config: Config, timeout: float, stdin: TextIO, out: TextIO,
                   connection: str = "") -> auth_pb2.AuthStatus:
    binding = secrets.token_urlsafe(32)
    begun = await clients.auth.BeginAuthorization(
        auth_pb2.BeginAuthorizationRequest(binding=binding, connection=connection), timeout=CALL_TIMEOUT_S)
    print(f"1. Open this URL in a browser, on any machine, and log in to Adobe:\n  {begun.authorize_url}\n"
          f"2. The browser then goes to {config.frameio.redirect_uri}?code=… (that page may fail to load).\n"
          "   Paste that whole address here and press Enter:", file=out, flush=True)
    try:
        pasted = await asyncio.wait_for(read_line(stdin), timeout)
    except TimeoutError:
        raise Unavailable(f"no address pasted within {timeout:g}s") from None
    code = authorization_code(pasted, begun.state)
    request = auth_pb2.CompleteAuthorizationRequest(code=code, state=begun.state, binding=binding,
                                                    connection=connection)
    return await clients.auth.CompleteAuthorization(request, timeout=EXCHANGE_TIMEOUT_S)


def authorization_code(pasted: str, state: str) -> str:
    """The `code` in the pasted redirect address, which must carry this login's `state`."""
    address = pasted.strip()
    if not address:
        raise InvalidArgument("no address pasted: copy the whole address from the browser's address bar")
    params = {name: values[0] for name, values in parse_qs(urlsplit(address).query).items()}
    if "error" in params:
        raise PermissionDenied(f"Adobe IMS refused the login: {params.get('error_description') or params['error']}")
    missing = [name for name in ("code", "state") if not params.get(name)]
    if missing:
        raise InvalidArgument(f"the pasted address has no {' and no '.join(missing)} parameter: paste the whole "
                              "address the browser ended on after the Adobe login (…/auth/callback?code=…&state=…)")
    if params["state"] != state:
        raise InvalidArgument("the pasted address belongs to another login (its state is not this one's): "
                              "open the URL printed above and paste the address that login ends on")
    return params["code"]


async def read_line(stream: TextIO) -> str:
    """One line of `stream`, read by a daemon thread: a read from a terminal cannot be
    cancelled, and must not keep the process from exiting after a timeout."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def settle(text: str | None, error: BaseException | None) -> None:
        if not line.done():
            line.set_exception(error) if error is not None else line.set_result(text or "")

    def read() -> None:
        try:
            text, error = stream.readline(), None
        except (OSError, ValueError) as exc:
            text, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
            loop.call_soon_threadsafe(settle, text, error)

    threading.Thread(target=read, name="read-stdin", daemon=True).start()
    return await line
