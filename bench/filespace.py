"""The streamer against nginx on a slow filespace: concurrent full GETs from a FUSE mount
whose every read waits, as on a network filespace (LucidLink, NFS, SMB) for data that is
not local yet.

    .venv/bin/python -m bench.filespace [--size-mib 256] [--streams 4 16] [--runs 3] [--read-latency-ms 2]

The files (one per stream) lie in /dev/shm, behind the read-only passthrough of
postflow/devtools/slowfs.py, mounted with the kernel's page cache as a network file system
has it and `--read-latency-ms` before every read and every lookup, stat and open. Three
servers serve the mount side by side: the streamer (`python -m services.streamer`, tunnel
mode none), nginx with `sendfile on`, and nginx with `sendfile on; aio threads;`, each
nginx one process as in bench/range_server.py. Every run is cold: the kernel's caches are
dropped before each transfer (and each open of a file on the mount drops its pages anyway).
A transfer is N concurrent full GETs of N different files by one curl; meanwhile a 100-byte
Range request of another file (a new connection each time) and, for the streamer, a gRPC
health check are made every 20 ms and timed. Runs alternate the servers' order. Prints a
Markdown table: aggregate MB/s (median of the runs) and its ratio to nginx + aio threads,
latencies (p50 / p99 / max over all runs), server CPU per GiB, and the streamer's peak
RSS; then, per target, whether it is met. Installs nginx and fuse3 from Debian packages if
missing; the FUSE binding (mfusepy) comes with the dev extra.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.range_server import (
    NGINX_CONF,
    GiB,
    MiB,
    cpu_seconds,
    ensure_nginx,
    publish,
    wait_http,
)
from postflow.devtools.slowfs import mounted
from postflow.testing.ports import free_port
from postflow.testing.processes import process_rss_peak_mb

TARGETS = {"throughput": 0.9, "p99_ms": 50.0, "rss_mb": 150.0}
PROBE_EVERY_S = 0.02
SMALL = "small.bin"
REFERENCE = "nginx, sendfile + aio threads"


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    urls: dict[str, str]  # file name → URL
    grpc_address: str = ""
    rates: dict[int, list[float]] = field(default_factory=dict)  # streams → bytes per second, one per run
    cpu: dict[int, list[float]] = field(default_factory=dict)  # streams → CPU seconds per GiB, one per run
    small_ms: dict[int, list[float]] = field(default_factory=dict)
    health_ms: dict[int, list[float]] = field(default_factory=dict)


def ensure_fuse() -> None:
    if not shutil.which("fusermount3"):
        print("installing fuse3 from Debian packages …", file=sys.stderr)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "fuse3"], check=True, env=env)
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        raise SystemExit(f"the FUSE binding is missing ({exc}): pip install -e '.[dev]'") from None


def make_files(directory: Path, names: list[str], size: int) -> None:
    block = os.urandom(8 * MiB)
    for index, name in enumerate(names):
        with open(directory / name, "wb") as out:
            for offset in range(0, size, len(block)):
                out.write((index * size + offset).to_bytes(8, "big") + block[8: min(len(block), size - offset)])
    (directory / SMALL).write_bytes(os.urandom(4096))


def drop_caches() -> bool:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3")
    except OSError:
        return False
    return True


def start_nginx(nginx: str, work: Path, media: Path, names: list[str], aio: bool) -> Server:
    port = free_port()
    work.mkdir()
    conf = NGINX_CONF.replace("sendfile on;", "sendfile on;\n    aio threads;") if aio else NGINX_CONF
    (work / "nginx.conf").write_text(conf.format(dir=work, port=port, media=media))
    process = subprocess.Popen([nginx, "-p", str(work), "-c", str(work / "nginx.conf")], stderr=subprocess.DEVNULL)
    urls = {name: f"http://127.0.0.1:{port}/t/{name}" for name in [*names, SMALL]}
    wait_http(urls[SMALL])
    return Server("nginx, sendfile + aio threads" if aio else "nginx, sendfile", process, urls)


def start_streamer(work: Path, media: Path, names: list[str]) -> Server:
    http_port, grpc_port = free_port(), free_port()
    work.mkdir()
    config = {
        "watch": {"root": str(media)}, "state_dir": str(work / "state"), "log_level": "WARNING",
        "streamer": {"listen": f"127.0.0.1:{http_port}", "tunnel": {"mode": "none"}},
        "services": {"streamer": f"127.0.0.1:{grpc_port}"},
    }
    (work / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTFLOW", "OTEL_"))}
    process = subprocess.Popen([sys.executable, "-m", "services.streamer", "-c", str(work / "config.json")],
                               env=env, cwd=Path(__file__).resolve().parent.parent)
    address = f"127.0.0.1:{grpc_port}"
    urls = {}
    for name in [*names, SMALL]:
        st = (media / name).stat()
        urls[name] = asyncio.run(publish(address, name, st.st_size, st.st_mtime_ns))
    wait_http(urls[SMALL])
    return Server("streamer", process, urls, address)


async def small_request(url: str) -> None:
    host, port = url.split("/")[2].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        path = "/" + url.split("/", 3)[3]
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199\r\nConnection: close\r\n\r\n".encode())
        response = await reader.read()
    finally:
        writer.close()
    if not response.startswith(b"HTTP/1.1 206") or len(response.partition(b"\r\n\r\n")[2]) != 100:
        raise SystemExit(f"{url}: unexpected answer to a small request: {response[:200]!r}")


async def timed_ms(awaitable) -> float:
    started = time.perf_counter()
    await awaitable
    return (time.perf_counter() - started) * 1000


async def probe(server: Server, streams: int, done: asyncio.Event) -> None:
    """Times a small request (and a health check) every PROBE_EVERY_S until `done`."""
    channel = grpc.aio.insecure_channel(server.grpc_address) if server.grpc_address else None
    try:
        health = health_pb2_grpc.HealthStub(channel) if channel else None
        while not done.is_set():
            server.small_ms.setdefault(streams, []).append(await timed_ms(small_request(server.urls[SMALL])))
            if health is not None:
                check = health.Check(health_pb2.HealthCheckRequest(), timeout=60)
                server.health_ms.setdefault(streams, []).append(await timed_ms(check))
            await asyncio.sleep(PROBE_EVERY_S)
    finally:
        if channel is not None:
            await channel.close()


async def transfer(server: Server, names: list[str], size: int) -> None:
    """All the files at once, by one curl; records the aggregate rate and the server's CPU."""
    streams = len(names)
    config = "\n".join(f'url = "{server.urls[name]}"\noutput = "/dev/null"\nwrite-out = "%{{size_download}}\\n"'
                       for name in names)
    done = asyncio.Event()
    probing = asyncio.create_task(probe(server, streams, done))
    cpu_before, started = cpu_seconds(server.process.pid), time.perf_counter()
    curl = await asyncio.create_subprocess_exec(
        "curl", "-s", "-K", "-", "--parallel", "--parallel-immediate", "--parallel-max", str(streams),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, _ = await curl.communicate(config.encode())
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(server.process.pid) - cpu_before
    done.set()
    await probing
    received = sum(int(n) for n in out.split())
    if received != streams * size:
        raise SystemExit(f"{server.name}, {streams} streams: received {received} bytes, expected {streams * size}")
    server.rates.setdefault(streams, []).append(received / elapsed)
    server.cpu.setdefault(streams, []).append(cpu / (received / GiB))


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "–"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):.1f} / {p99:.1f} / {ordered[-1]:.0f}"


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def table(servers: list[Server], args: argparse.Namespace, streamer_rss: float, dropped: bool) -> str:
    reference = next(s for s in servers if s.name == REFERENCE)
    streamer = next(s for s in servers if s.name == "streamer")
    rows = ["| streams | server | aggregate MB/s | vs nginx + aio threads | small request ms p50 / p99 / max "
            "| health check ms p50 / p99 / max | server CPU s/GiB |", "|---|---|---:|---:|---|---|---:|"]
    verdicts = []
    for streams in args.streams:
        base = statistics.median(reference.rates[streams])
        for server in servers:
            rate = statistics.median(server.rates[streams])
            rows.append(f"| {streams} | {server.name} | {rate / 1e6:.0f} | {rate / base:.2f}× "
                        f"| {percentiles(server.small_ms.get(streams, []))} "
                        f"| {percentiles(server.health_ms.get(streams, []))} "
                        f"| {statistics.median(server.cpu[streams]):.2f} |")
        ratio = statistics.median(streamer.rates[streams]) / base
        verdicts.append(verdict(f"{streams} streams: throughput ≥ {TARGETS['throughput']}× nginx + aio threads "
                                f"({ratio:.2f}×)", ratio >= TARGETS["throughput"]))
        worst = max(p99(streamer.small_ms[streams]), p99(streamer.health_ms[streams]))
        verdicts.append(verdict(f"{streams} streams: small request and health check p99 ≤ {TARGETS['p99_ms']:.0f} ms "
                                f"({worst:.1f} ms)", worst <= TARGETS["p99_ms"]))
    verdicts.append(verdict(f"streamer peak RSS ≤ {TARGETS['rss_mb']:.0f} MB with {max(args.streams)} streams "
                            f"({streamer_rss:.0f} MB)", streamer_rss <= TARGETS["rss_mb"]))
    caches = "kernel caches dropped before every transfer" if dropped else \
        "kernel caches NOT dropped (not root): only each open's invalidation of the file's pages"
    notes = (f"{args.size_mib} MiB per file, one file per stream, on a FUSE passthrough (postflow/devtools/slowfs.py) "
             f"with {args.read_latency_ms:g} ms before each read, lookup, stat and open, page cache on; {caches}; "
             f"loopback, curl client, {os.cpu_count()} CPUs, no pinning; MB/s: median of {args.runs} runs; "
             "latencies: all samples of all runs (a small request = a new connection and a 100-byte Range).")
    return "\n".join([*rows, "", notes, "", *verdicts])


def verdict(target: str, met: bool) -> str:
    return f"- {target}: {'met' if met else 'NOT met'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--streams", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--read-latency-ms", type=float, default=2.0)
    args = parser.parse_args(argv)
    if not shutil.which("curl"):
        raise SystemExit("curl is required (apt-get install curl)")
    nginx = ensure_nginx()
    ensure_fuse()
    size = args.size_mib * MiB
    names = [f"clip{index:02d}.mov" for index in range(max(args.streams))]
    with tempfile.TemporaryDirectory(prefix="postflow-filespace-", dir="/dev/shm") as backing, \
            tempfile.TemporaryDirectory(prefix="postflow-filespace-") as tmp:
        work = Path(tmp)
        make_files(Path(backing), names, size)
        with mounted(Path(backing), work / "mount", read_latency_ms=args.read_latency_ms,
                     meta_latency_ms=args.read_latency_ms) as mount:
            servers: list[Server] = []
            try:
                servers.append(start_nginx(nginx, work / "nginx", mount.path, names, aio=False))
                servers.append(start_nginx(nginx, work / "nginx-aio", mount.path, names, aio=True))
                servers.append(start_streamer(work / "streamer", mount.path, names))
                dropped = True
                for run in range(args.runs):
                    for streams in args.streams:
                        for server in servers[run % 3:] + servers[:run % 3]:
                            dropped = drop_caches() and dropped
                            asyncio.run(transfer(server, names[:streams], size))
                streamer_rss = process_rss_peak_mb(servers[-1].process.pid)
            finally:
                for server in servers:
                    server.process.terminate()
                    server.process.wait(timeout=20)
    print(table(servers, args, streamer_rss, dropped))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
