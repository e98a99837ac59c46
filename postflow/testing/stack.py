"""The whole of PostFlow as real processes, for end-to-end tests and benchmarks: the emulator
(`python -m postflow.emulator`) and `postflow up` with a config on free loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from postflow.cli.demo import connect_frameio, demo_config, poll_json
from postflow.cli.supervisor import SERVICES, read_pid
from postflow.core.config import load_config, write_config
from postflow.core.mesh.certs import CertPaths
from postflow.core.rpc import check_health, open_channel
from postflow.testing.emulator import emulator_report, set_faults, start_emulator
from postflow.testing.mesh import credentials
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, stop_process

FAST_WATCH = {"poll_interval_s": 0.2, "stable_after_s": 0.6, "status_poll_s": 0.2, "backoff_base_s": 0.2,
              "backoff_max_s": 2.0}
FAST_FRAMEIO = {"server_error_backoff_s": 0.2}  # Frame.io asks for 30 s; the emulator does not mind


def deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = deep_merge(merged[key], value) if nested else value
    return merged


@dataclass
class Stack:
    root: Path
    config: dict
    config_path: Path
    emulator_url: str
    dashboard_url: str
    env: dict[str, str]
    up: asyncio.subprocess.Process | None = None
    emulator: asyncio.subprocess.Process | None = None
    output: list[str] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return Path(self.config["state_dir"])

    @property
    def watch_root(self) -> Path:
        return Path(self.config["watch"]["root"])

    def address(self, service: str) -> str:
        return self.config["services"][service]

    async def channel(self, service: str) -> grpc.aio.Channel:
        """A channel to `service` as the admin (its mesh certificate when mesh.mtls is on)."""
        config = load_config(self.config_path, env={})
        secured = await credentials(CertPaths(config.certs_path), "admin") if config.mesh.mtls else None
        return open_channel(self.address(service), credentials=secured, service=service)

    def pid(self, service: str) -> int | None:
        return read_pid(self.state_dir, service)

    async def emulator_report(self) -> dict:
        """The emulator's files ("files") and those deleted from it ("deleted")."""
        return await emulator_report(self.emulator_url)

    async def emulator_files(self) -> list[dict]:
        return (await self.emulator_report())["files"]

    async def cli(self, *args: str, timeout: float = 60) -> tuple[int, str, str]:
        """`postflow ARGS -c <the stack's config>`: (exit code, stdout, stderr)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "postflow.cli", *args, "-c", str(self.config_path), env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    async def fault(self, spec: dict) -> None:
        await set_faults(self.emulator_url, spec)

    async def wait_healthy(self, timeout: float = 60) -> None:
        async def all_serving() -> bool:
            grpc_ok = all([await check_health(self.address(s), timeout=1) == "SERVING"
                           for s in ("auth", "watcher", "streamer")])
            async with httpx.AsyncClient(timeout=2) as client:
                with contextlib.suppress(httpx.HTTPError):
                    return grpc_ok and (await client.get(f"{self.dashboard_url}/livez")).status_code == 200
            return False

        try:
            await wait_for(all_serving, timeout=timeout, interval=0.2, message="all services SERVING")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{await self.diagnosis()}") from None

    async def diagnosis(self) -> str:
        """Each service's health and the tail of its log, for a stack that did not come up."""
        lines = []
        for name in SERVICES:
            health = await check_health(self.address(name), timeout=1) if name != "dashboard" else "-"
            lines.append(f"--- {name}: health {health}, pid {self.pid(name)}")
            lines.extend(service_logs(self).get(name, "(no log)").splitlines()[-15:])
        return "\n".join(lines)

    async def kill(self, service: str, sig: int = signal.SIGKILL) -> int:
        pid = self.pid(service)
        assert pid, f"no pid file for {service}"
        os.kill(pid, sig)
        return pid

    async def wait_restarted(self, service: str, old_pid: int, timeout: float = 30) -> int:
        def new_pid() -> int:
            pid = self.pid(service)
            return pid if pid is not None and pid != old_pid else 0

        return await wait_for(new_pid, timeout=timeout, message=f"{service} restarted")


@contextlib.asynccontextmanager
async def running_stack(tmp_path: Path, overrides: dict | None = None, env: dict[str, str] | None = None,
                        emulator_args: tuple[str, ...] = ("--no-rate-limits",),
                        connect: bool = True) -> AsyncIterator[Stack]:
    """Starts the emulator and `postflow up`; connects Frame.io through the dashboard unless
    `connect` is false. Everything is stopped (SIGTERM) on exit."""
    state_dir = tmp_path / "state"
    (state_dir / "watch").mkdir(parents=True)
    ports = {name: free_port() for name in ("emulator", "dashboard", "auth", "watcher", "streamer", "range", "api")}
    emulator_url = f"http://127.0.0.1:{ports['emulator']}"
    child = {**child_env(), **(env or {})}
    emulator = await start_emulator(ports["emulator"], child, tmp_path / "emulator.log", *emulator_args)
    stack = None
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            seeded = await poll_json(client, f"{emulator_url}/_emulator/state", timeout=20)
        config = deep_merge(demo_config(state_dir, emulator_url, seeded, ports),
                            {"watch": FAST_WATCH, "frameio": FAST_FRAMEIO,
                             "mesh": {"api_listen": f"127.0.0.1:{ports['api']}"}})
        config = deep_merge(config, overrides or {})
        config_path = tmp_path / "config.json"
        write_config(config, config_path)
        stack = Stack(tmp_path, config, config_path, emulator_url, f"http://127.0.0.1:{ports['dashboard']}",
                      child, emulator=emulator)
        stack.up = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "postflow.cli", "up", "-c", str(config_path), env=child,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await stack.wait_healthy()
        if connect:
            await connect_frameio(stack.dashboard_url)
        yield stack
    finally:
        if stack is not None:
            await stop_process(stack.up)
        await stop_process(emulator)


def service_logs(stack: Stack) -> dict[str, str]:
    return {name: (stack.state_dir / "logs" / f"{name}.log").read_text(errors="replace")
            for name in SERVICES if (stack.state_dir / "logs" / f"{name}.log").exists()}
