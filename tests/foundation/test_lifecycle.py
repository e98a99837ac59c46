"""The service lifecycle written once (postflow.core.service and rpc): health NOT_SERVING
before the server accepts a call and until `ready()` returns, the order of start and stop,
service names read from the generated modules, and what a process does with a signal or a
config error that arrives while the service is still starting, and with SIGHUP (reload)."""

import asyncio
import os
import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from postflow.core.config import Config, MeshConfig
from postflow.core.rpc import GrpcServer, Servicer, check_health, service_name
from postflow.core.service import EXIT_CANNOT_LISTEN, GrpcService, Runtime, serve_until_signalled
from postflow.testing.polling import wait_for
from postflow.testing.streamer import run_streamer_process
from postflow.v1 import auth_pb2, auth_pb2_grpc, common_pb2, streamer_pb2, watcher_pb2

AUTH = "postflow.v1.AuthService"
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


async def status_now(server: GrpcServer, name: str) -> int:
    return (await server.health.Check(health_pb2.HealthCheckRequest(service=name), None)).status


class Probe(GrpcService):
    """A service that records its steps; `ready()` waits until the test allows it."""

    identity = "probe"

    def __init__(self, fail_open: bool = False, address: str = "127.0.0.1:0") -> None:
        super().__init__(Runtime(Config(mesh=MeshConfig(mtls=False))), address)
        self.steps: list[str] = []
        self.may_serve = asyncio.Event()
        self.fail_open = fail_open
        self.background_done_at_close: bool | None = None

    async def open(self) -> None:
        self.steps.append("open")
        if self.fail_open:
            raise OSError("no database today")

    def servicers(self) -> list[Servicer]:
        return [Servicer(auth_pb2, auth_pb2_grpc.add_AuthServiceServicer_to_server,
                         auth_pb2_grpc.AuthServiceServicer())]

    async def start_background(self) -> None:
        self.steps.append("background")
        self.spawn("forever", asyncio.Event().wait())

    async def ready(self) -> None:
        self.steps.append("ready")
        await self.may_serve.wait()

    def end_streams(self) -> None:
        assert self.server is not None
        self.steps.append("end_streams")

    async def close(self) -> None:
        self.background_done_at_close = all(task.done() for task in self._tasks) and not self._tasks
        self.steps.append("close")

    async def reload(self) -> None:
        self.steps.append("reload")
        if self.steps.count("reload") == 1:
            raise RuntimeError("a reload that went wrong")


def test_service_names_come_from_the_generated_modules():
    assert service_name(auth_pb2) == AUTH
    assert service_name(watcher_pb2) == "postflow.v1.WatcherService"
    assert service_name(streamer_pb2) == "postflow.v1.StreamerService"
    with pytest.raises(ValueError, match="0 services"):
        service_name(common_pb2)


@pytest.mark.asyncio
async def test_the_server_accepts_its_first_call_already_not_serving():
    server = GrpcServer()
    server.add(Probe().servicers()[0])
    seen: dict[str, int] = {}
    start_the_server = server.server.start

    async def start() -> None:  # the moment calls can arrive
        seen.update({name: await status_now(server, name) for name in ("", AUTH)})
        await start_the_server()

    server.server.start = start
    try:
        await server.start("127.0.0.1:0")
        assert seen == {"": NOT_SERVING, AUTH: NOT_SERVING}
    finally:
        await server.stop(0)


@pytest.mark.asyncio
async def test_serving_only_once_ready_and_stop_runs_in_order():
    probe = Probe()
    starting = asyncio.create_task(probe.start())
    await wait_for(lambda: "ready" in probe.steps, message="ready() called")
    address = f"127.0.0.1:{probe.grpc_port}"
    assert probe.steps == ["open", "background", "ready"]
    assert await check_health(address) == "NOT_SERVING"
    assert await check_health(address, service=AUTH) == "NOT_SERVING"

    probe.may_serve.set()
    await starting
    assert await check_health(address) == "SERVING"
    assert await check_health(address, service=AUTH) == "SERVING"

    async with grpc.aio.insecure_channel(address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=AUTH))
        assert (await watch.read()).status == SERVING
        stopping = asyncio.create_task(probe.stop())
        assert (await watch.read()).status == NOT_SERVING  # before the server goes away
        watch.cancel()
        await stopping
    await probe.stop()  # a second stop does nothing
    assert probe.steps == ["open", "background", "ready", "end_streams", "close"]
    assert probe.background_done_at_close
    assert await check_health(address, timeout=0.5) == "UNREACHABLE"


@pytest.mark.asyncio
async def test_stop_after_a_failed_start_closes_what_was_opened():
    probe = Probe(fail_open=True)
    with pytest.raises(OSError, match="no database"):
        await probe.start()
    await probe.stop()
    assert probe.steps == ["open", "close"] and probe.server is None


@pytest.mark.asyncio
async def test_a_signal_while_starting_stops_the_service():
    probe = Probe()
    serving = asyncio.create_task(serve_until_signalled("probe", probe))
    await wait_for(lambda: "ready" in probe.steps, message="ready() called")
    os.kill(os.getpid(), signal.SIGTERM)  # handled by the loop: the test process lives on
    assert await asyncio.wait_for(serving, 10) == 0
    assert probe.steps == ["open", "background", "ready", "end_streams", "close"]


@pytest.mark.asyncio
async def test_a_signal_once_ready_stops_the_service_cleanly():
    probe = Probe()
    probe.may_serve.set()
    serving = asyncio.create_task(serve_until_signalled("probe", probe))
    await wait_for(lambda: probe.grpc_port and "ready" in probe.steps, message="started")
    await wait_for(lambda: check_health(f"127.0.0.1:{probe.grpc_port}", timeout=1), message="answering")
    assert await check_health(f"127.0.0.1:{probe.grpc_port}") == "SERVING"
    os.kill(os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(serving, 10) == 0
    assert probe.steps[-2:] == ["end_streams", "close"]


@pytest.mark.asyncio
async def test_sighup_reloads_the_service_once_it_is_ready_and_a_failed_reload_does_not_end_it():
    probe = Probe()
    serving = asyncio.create_task(serve_until_signalled("probe", probe))
    await wait_for(lambda: "ready" in probe.steps, message="ready() called")
    os.kill(os.getpid(), signal.SIGHUP)  # while starting: handled, and the reload waits until ready
    probe.may_serve.set()
    await wait_for(lambda: probe.steps.count("reload") == 1, message="the first reload")
    os.kill(os.getpid(), signal.SIGHUP)
    await wait_for(lambda: probe.steps.count("reload") == 2, message="a reload after one that failed")
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(serving, 10) == 0
    assert probe.steps == ["open", "background", "ready", "reload", "reload", "end_streams", "close"]


@pytest.mark.asyncio
async def test_a_port_another_grpc_server_holds_ends_the_start_with_exit_3_naming_it(caplog):
    """gRPC's default SO_REUSEPORT would let both servers listen and split the connections."""
    holder = grpc.aio.server()
    port = holder.add_insecure_port("127.0.0.1:0")
    await holder.start()
    try:
        probe = Probe(address=f"127.0.0.1:{port}")
        assert await asyncio.wait_for(serve_until_signalled("probe", probe), 10) == EXIT_CANNOT_LISTEN
    finally:
        await holder.stop(0)
    assert probe.steps == ["open", "end_streams", "close"]  # never background work nor ready
    assert f"probe could not start: cannot listen on 127.0.0.1:{port}" in caplog.text


def test_a_state_dir_that_cannot_be_opened_exits_2_naming_the_key(tmp_path):
    (tmp_path / "state").write_text("a file, not a directory")
    result = run_streamer_process(tmp_path)
    assert result.returncode == 2, result.stderr
    assert "config error: state_dir: cannot open" in result.stderr
