"""The streamer's Range server against nginx, on the same file, in the same run.

    .venv/bin/python -m bench.range_server [--size-mib 1024] [--runs 15]

Installs nginx from Debian packages if it is missing (apt-get, nginx-light), creates the
file, runs nginx (sendfile and tcp_nopush on, one process) and the real streamer service
(`python -m services.streamer`, tunnel mode none, published with a trace context as the
watcher does) side by side, and measures with curl: one full GET, 4 parallel quarter
ranges, 64 random 1 MiB ranges (4 at a time). Both servers are pinned to one CPU and curl
to another, so they meet the same placement. Server CPU is the processes' CPU time
(/proc/<pid>/task/*/schedstat, ns) before and after each run; runs alternate between the
servers so other load hits both, and each cell is the median run (the CPU ratio: the median
of the runs' own ratios, with its interquartile range). Then 32 concurrent
rate-limited streams, for peak RSS. Prints a Markdown table with the ratios against nginx
and, per target, whether it is met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from postflow.testing.ports import free_port
from postflow.testing.processes import child_env, process_rss_peak_mb
from postflow.v1 import common_pb2, streamer_pb2, streamer_pb2_grpc

MiB = 1024 * 1024
GiB = 1024 * MiB
SERVER_CPU, CLIENT_CPU = 0, 1  # with two or more CPUs: servers on one, curl on the other
CLIENT_PREFIX = ["taskset", "-c", str(CLIENT_CPU)] if (os.cpu_count() or 1) > 1 and shutil.which("taskset") else []
TARGETS = {"parallel_throughput": 0.9, "cpu_per_gib": 1.3, "rss_mb": 100.0}


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of the process, in ns precision (/proc/<pid>/task/*/schedstat:
    the same utime + stime as /proc/<pid>/stat, without its 10 ms ticks)."""
    return sum(int(stat.read_text().split()[0]) for stat in Path(f"/proc/{pid}/task").glob("*/schedstat")) / 1e9


def pin(pid: int, cpu: int) -> None:
    """Every thread of the process onto one CPU, so both servers meet the same placement."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpu})


def ensure_nginx() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("installing nginx from Debian packages …", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    for package in ("nginx-light", "nginx"):
        if subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", package], env=env).returncode == 0:
            return shutil.which("nginx") or "/usr/sbin/nginx"
    raise SystemExit("could not install nginx")


def make_file(path: Path, size: int) -> None:
    block = bytearray(random.Random(7).randbytes(8 * MiB))
    with open(path, "wb") as out:
        written = 0
        while written < size:
            block[:8] = written.to_bytes(8, "big")  # no two blocks equal
            piece = block[: min(len(block), size - written)]
            out.write(piece)
            written += len(piece)
    with open(path, "rb") as warm:  # into the page cache, for both servers alike
        while warm.read(64 * MiB):
            pass


NGINX_CONF = """
worker_processes 1;
daemon off;
master_process off;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    default_type application/octet-stream;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /t/ {{ alias {media}/; }}
    }}
}}
"""


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    url: str
    cpu: dict[str, list[float]] = field(default_factory=dict)  # seconds per GiB, one per run
    rates: dict[str, list[float]] = field(default_factory=dict)  # bytes per second, one per run
    rss_mb: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["curl", "-sf", "-o", "/dev/null", "-r", "0-0", url]).returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def start_nginx(nginx: str, work: Path, media: Path) -> Server:
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=work, port=port, media=media))
    process = subprocess.Popen([nginx, "-p", str(work), "-c", str(conf)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/t/{next(media.iterdir()).name}"
    wait_http(url)
    return Server("nginx", process, url)


def start_streamer(work: Path, media: Path) -> Server:
    http_port, grpc_port = free_port(), free_port()
    config = {
        "watch": {"root": str(media)}, "state_dir": str(work / "state"), "log_level": "WARNING",
        "streamer": {"listen": f"127.0.0.1:{http_port}", "max_connections_per_publication": 64,
                     "tunnel": {"mode": "none"}},
        "services": {"streamer": f"127.0.0.1:{grpc_port}"},
    }
    (work / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen([sys.executable, "-m", "services.streamer", "-c", str(work / "config.json")],
                               env=child_env(), cwd=Path(__file__).resolve().parent.parent)
    media_file = next(media.iterdir())
    st = media_file.stat()
    url = asyncio.run(publish(f"127.0.0.1:{grpc_port}", media_file.name, st.st_size, st.st_mtime_ns))
    wait_http(url)
    return Server("streamer", process, url)


async def publish(address: str, path: str, size: int, mtime_ns: int) -> str:
    """Publishes as the watcher does, with a sampled trace context: every request gets its span."""
    trace_context = common_pb2.TraceContext(traceparent=f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01")
    async with grpc.aio.insecure_channel(address) as channel:
        stub = streamer_pb2_grpc.StreamerServiceStub(channel)
        publication = await stub.Publish(
            streamer_pb2.PublishRequest(path=path, size=size, mtime_ns=mtime_ns, job_id="bench",
                                        trace_context=trace_context),
            timeout=30, wait_for_ready=True,
        )
    return publication.url


def curl_parallel(url: str, ranges: list[tuple[int, int] | None], parallel: int, limit_rate: str = "") -> int:
    """Fetches every range (None = whole file) with one curl, `parallel` transfers at a time;
    returns the bytes received."""
    lines = []
    for r in ranges:
        lines.append(f'url = "{url}"\noutput = "/dev/null"\nwrite-out = "%{{size_download}}\\n"')
        if r is not None:
            lines.append(f'range = "{r[0]}-{r[1]}"')
        if limit_rate:
            lines.append(f'limit-rate = "{limit_rate}"')
        lines.append("next")
    args = [*CLIENT_PREFIX, "curl", "-s", "-K", "-"]
    if parallel > 1:
        args += ["--parallel", "--parallel-immediate", "--parallel-max", str(parallel)]
    result = subprocess.run(args, input="\n".join(lines[:-1]), capture_output=True, text=True, check=True)
    return sum(int(n) for n in result.stdout.split())


def scenarios(size: int, seed: int) -> dict[str, tuple[list[tuple[int, int] | None], int]]:
    quarter = size // 4
    rng = random.Random(seed)
    return {
        "one full GET": ([None], 1),
        "4 parallel quarter ranges": ([(i * quarter, (i + 1) * quarter - 1) for i in range(4)], 4),
        "64 random 1 MiB ranges": ([(o, o + MiB - 1) for o in (rng.randrange(0, size - MiB) for _ in range(64))], 4),
    }


def measure(server: Server, name: str, ranges: list, parallel: int, expected: int) -> None:
    cpu_before = cpu_seconds(server.pid)
    started = time.perf_counter()
    received = curl_parallel(server.url, ranges, parallel)
    elapsed = time.perf_counter() - started
    if received != expected:
        raise SystemExit(f"{server.name}, {name}: received {received} bytes, expected {expected}")
    server.cpu.setdefault(name, []).append((cpu_seconds(server.pid) - cpu_before) / (received / GiB))
    server.rates.setdefault(name, []).append(received / elapsed)


def measure_rss(server: Server, size: int, streams: int = 32) -> None:
    span = size // streams
    ranges = [(i * span, i * span + min(span, 64 * MiB) - 1) for i in range(streams)]
    curl_parallel(server.url, ranges, streams, limit_rate="20M")
    server.rss_mb = process_rss_peak_mb(server.pid)


def table(servers: list[Server], size: int) -> str:
    nginx, streamer = servers
    rows = ["| scenario | nginx MB/s | streamer MB/s | throughput ratio | nginx CPU s/GiB | streamer CPU s/GiB "
            "| CPU ratio |", "|---|---|---|---|---|---|---|"]
    verdicts = []
    for name in nginx.rates:
        rate = [statistics.median(s.rates[name]) / 1e6 for s in servers]
        cpu = [statistics.median(s.cpu[name]) for s in servers]
        rate_ratio, (cpu_ratio, low, high) = rate[1] / rate[0], paired_ratio(streamer.cpu[name], nginx.cpu[name])
        rows.append(f"| {name} | {rate[0]:.0f} | {rate[1]:.0f} | {rate_ratio:.2f}× | {cpu[0]:.3f} | {cpu[1]:.3f} "
                    f"| {cpu_ratio:.2f}× ({low:.2f}–{high:.2f}) |")
        verdicts.append(verdict(f"CPU/GiB ≤ {TARGETS['cpu_per_gib']}× nginx, {name}",
                                cpu_ratio <= TARGETS["cpu_per_gib"]))
        if name.startswith("4 parallel"):
            verdicts.insert(0, verdict(f"parallel-range throughput ≥ {TARGETS['parallel_throughput']}× nginx",
                                       rate_ratio >= TARGETS["parallel_throughput"]))
    rows.append(f"| peak RSS, 32 concurrent streams | {nginx.rss_mb:.0f} MB | {streamer.rss_mb:.0f} MB | | | | |")
    verdicts.append(verdict(f"RSS ≤ {TARGETS['rss_mb']:.0f} MB with 32 streams", streamer.rss_mb <= TARGETS["rss_mb"]))
    runs = len(nginx.cpu[name])
    return "\n".join([*rows, "", f"File {size / GiB:.2f} GiB on loopback, warm page cache, curl client, "
                       f"{os.cpu_count()} CPUs; each cell is the median of {runs} interleaved runs; the CPU ratio "
                       "is the median of the runs' own ratios (each run measures both servers back to back), "
                       "with its interquartile range.", "", *verdicts])


def paired_ratio(ours: list[float], reference: list[float]) -> tuple[float, float, float]:
    """Median and quartiles of the per-run ratios: slow drifts of the machine's load hit both
    servers of a run alike and cancel out."""
    ratios = [a / b for a, b in zip(ours, reference, strict=True)]
    low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return statistics.median(ratios), low, high


def verdict(target: str, met: bool) -> str:
    return f"- {target}: {'met' if met else 'NOT met'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    if not shutil.which("curl"):
        raise SystemExit("curl is required (apt-get install curl)")
    nginx_binary = ensure_nginx()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="postflow-bench-") as tmp:
        work = Path(tmp)
        media = work / "media"
        media.mkdir()
        make_file(media / "bench.mov", size)
        (work / "nginx").mkdir()
        (work / "streamer").mkdir()
        servers: list[Server] = []
        try:
            servers.append(start_nginx(nginx_binary, work / "nginx", media))
            servers.append(start_streamer(work / "streamer", media))
            if CLIENT_PREFIX:
                for server in servers:
                    pin(server.pid, SERVER_CPU)
            for run in range(args.runs):
                for name, (ranges, parallel) in scenarios(size, seed=run).items():
                    expected = sum(size if r is None else r[1] - r[0] + 1 for r in ranges)
                    for server in servers if run % 2 == 0 else servers[::-1]:
                        measure(server, name, ranges, parallel, expected)
            for server in servers:
                measure_rss(server, size)
        finally:
            for server in servers:
                server.process.terminate()
                server.process.wait(timeout=20)
    print(table(servers, size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
