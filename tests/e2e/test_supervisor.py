"""`postflow up` supervision with the real services: a killed child comes back with a new
pid, SIGTERM stops every child and removes the pid files, a supervisor killed with -9
leaves no service running, and a port another process holds stops the set, naming it."""

import signal

import pytest

from postflow.cli.supervisor import SERVICES
from postflow.core.config import split_address, write_config
from postflow.core.net import listen
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import process_alive, run_postflow, stop_process
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow


@pytest.mark.asyncio
async def test_killed_services_restart_and_sigterm_stops_all(tmp_path):
    async with running_stack(tmp_path, connect=False) as stack:
        pids = {name: stack.pid(name) for name in SERVICES}
        assert all(pids.values()) and len(set(pids.values())) == 4
        for name in ("watcher", "auth"):
            old = await stack.kill(name)
            new = await stack.wait_restarted(name, old)
            assert new != old and process_alive(new)
        await stack.wait_healthy()
        pids = {name: stack.pid(name) for name in SERVICES}
        await stop_process(stack.up)
        assert stack.up.returncode == 0
        for name, pid in pids.items():
            await wait_for(lambda pid=pid: not process_alive(pid), timeout=5, message=f"{name} stopped")
        assert not list((stack.state_dir / "run").glob("*.pid"))
        log = (stack.state_dir / "logs" / "watcher.log").read_text()
        assert "watcher ready" in log and "watcher stopping" in log


@pytest.mark.asyncio
async def test_services_stop_when_the_supervisor_is_killed(tmp_path):
    async with running_stack(tmp_path, connect=False) as stack:
        pids = {name: stack.pid(name) for name in SERVICES}
        stack.up.send_signal(signal.SIGKILL)
        await stack.up.wait()
        for name, pid in pids.items():
            await wait_for(lambda pid=pid: not process_alive(pid), timeout=15,
                           message=f"{name} to stop with postflow up")


@pytest.mark.asyncio
async def test_a_port_taken_before_its_service_listens_stops_postflow_up_naming_it(tmp_path):
    """Not a restart loop on the same port, nor a set that looks up with one service missing."""
    (tmp_path / "watch").mkdir()
    services = {name: f"127.0.0.1:{free_port()}" for name in ("auth", "watcher", "streamer")}
    config = tmp_path / "config.json"
    write_config({"frameio": {"client_id": "x", "client_secret": "y"}, "watch": {"root": str(tmp_path / "watch")},
                  "services": services, "dashboard": {"listen": f"127.0.0.1:{free_port()}"},
                  "mesh": {"api_listen": ""}, "state_dir": str(tmp_path / "state")}, config)
    host, port = split_address(services["watcher"], "services.watcher")
    with listen(host, port):
        code, _, err = await run_postflow("up", "-c", str(config), timeout=60)
    assert code == 3, err
    assert f"watcher could not start: cannot listen on {services['watcher']}: Address already in use" in err
    assert not list((tmp_path / "state" / "run").glob("*.pid")), "every child stopped"
