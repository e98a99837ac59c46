"""Listening sockets (TCP_NODELAY on what asyncio accepts, "::" for IPv4 too; a taken port
named), port picking (below the ephemeral range, in slices per xdist worker) and local URLs."""

from __future__ import annotations

import asyncio
import itertools
import socket

import pytest

from postflow.core.config_types import ConfigError
from postflow.core.net import (
    PORT_RANGE_ENV,
    CannotListen,
    PortPool,
    bindable,
    ephemeral_ports,
    http_url,
    listen,
    pick_port,
    port_range,
    reachable_host,
)
from postflow.testing.ports import CHILDREN_SPAN, worker_spans
from postflow.testing.processes import child_env


async def accepted_nodelay(sock: socket.socket) -> int:
    """TCP_NODELAY of the connection an asyncio server accepts on `sock`."""
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        try:
            return await asyncio.wait_for(accepted, 5)
        finally:
            writer.close()


@pytest.mark.asyncio
async def test_connections_accepted_on_a_listening_socket_have_nodelay():
    assert await accepted_nodelay(listen("127.0.0.1", 0)) != 0


@pytest.mark.asyncio
async def test_without_the_tcp_protocol_asyncio_leaves_nagle_on():
    """The control case: why `listen` names IPPROTO_TCP."""
    plain = socket.create_server(("127.0.0.1", 0))
    assert plain.proto == 0
    assert await accepted_nodelay(plain) == 0


def test_port_zero_picks_a_free_port_and_the_socket_listens():
    with listen("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        assert port > 0 and not bindable("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_the_ipv6_wildcard_accepts_ipv4_too():
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 support")
    with listen("::", 0) as sock:
        port = sock.getsockname()[1]
        with socket.create_connection((reachable_host("::"), port), timeout=5):
            pass
        with socket.create_connection(("::1", port), timeout=5):
            pass


def test_pick_port_prefers_the_given_port_while_it_is_free():
    with listen("127.0.0.1", 0) as taken:
        busy = taken.getsockname()[1]
        other = pick_port(preferred=busy)
        assert other != busy and bindable("127.0.0.1", other)
    assert pick_port(preferred=busy) == busy
    assert pick_port() > 0


def test_the_pool_never_gives_a_port_twice_and_stays_below_the_ephemeral_range():
    pool = PortPool(seed=1)
    ports = [pool.take() for _ in range(200)]
    assert len(set(ports)) == 200
    assert all(10000 <= port < ephemeral_ports()[0] for port in ports)


def test_the_pool_skips_ports_in_use():
    pool, probe = PortPool(seed=7), PortPool(seed=7)
    first = probe.take()
    with listen("127.0.0.1", first):
        assert pool.take() != first


def test_local_urls_reach_wildcards_on_loopback_and_bracket_ipv6():
    assert http_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert http_url("::", 8000) == "http://127.0.0.1:8000"
    assert http_url("::1", 8000) == "http://[::1]:8000"
    assert http_url("media.local", 80) == "http://media.local:80"


def test_a_taken_port_is_cannot_listen_naming_the_address():
    with listen("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(CannotListen, match=f"^cannot listen on 127.0.0.1:{port}: Address already in use$"):
            listen("127.0.0.1", port)


def test_the_pool_picks_in_postflow_port_range_and_a_bad_range_is_a_config_error(monkeypatch):
    monkeypatch.setenv(PORT_RANGE_ENV, "20000-20009")
    pool = PortPool(seed=3)
    assert all(20000 <= pool.take() <= 20009 for _ in range(5))
    assert port_range({}) == (10000, ephemeral_ports()[0] - 1)
    for bad in ("20000", "2-1", "0-10", "a-b"):
        with pytest.raises(ConfigError, match=f"^{PORT_RANGE_ENV}='{bad}': expected"):
            port_range({PORT_RANGE_ENV: bad})


def test_xdist_workers_and_their_children_pick_from_slices_no_one_else_picks_from():
    spans = [span for index in range(3)
             for span in worker_spans({"PYTEST_XDIST_WORKER": f"gw{index}", "PYTEST_XDIST_WORKER_COUNT": "3"})]
    low, high = port_range({})
    assert spans[0][0] == low and all(high >= end >= start >= low for start, end in spans)
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(spans))  # in order: disjoint
    assert child_env()[PORT_RANGE_ENV] == "-".join(map(str, CHILDREN_SPAN))
