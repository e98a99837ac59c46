"""A stand-in for `cloudflared tunnel` in tests: prints what the real one prints (the quick
tunnel box with a random trycloudflare URL, "Registered tunnel connection"), serves
`/quicktunnel`, `/ready` and `/metrics` on its `--metrics` address, and obeys files in the
control directory `$FAKE_CLOUDFLARED_DIR`:

    crash        (deleted when seen) exit with code 3, as a dying cloudflared
    new-url      (deleted when seen) switch to a new quick URL: new box, new /quicktunnel
    flood        (deleted when seen) write as many bytes as the file says to stderr and to
                 stdout, then create `flooded`; with nobody reading the pipes this blocks
    ignore-term  (read at start) ignore SIGTERM
    not-ready    (read each time) /ready answers 503

Each start appends a JSON line to `starts`: pid, argv, whether TUNNEL_TOKEN was set."""

import json
import os
import random
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTROL = Path(os.environ["FAKE_CLOUDFLARED_DIR"])
WORDS = ["seasonal", "deck", "organisms", "sf", "quiet", "river", "bold", "lamp", "acres", "tune", "ohio", "pine"]
state = {"hostname": ""}


def log(message: str, stream=sys.stderr) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stream.write(f"{stamp} INF {message}\n")
    stream.flush()


def new_hostname() -> str:
    return "-".join(random.sample(WORDS, 4)) + ".trycloudflare.com"


def announce(hostname: str) -> None:
    state["hostname"] = hostname
    url = f"https://{hostname}"
    log("+--------------------------------------------------------------------------------------------+")
    log("|  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |")
    log(f"|  {url:<90}|")
    log("+--------------------------------------------------------------------------------------------+")


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/quicktunnel":
            self.reply(200, json.dumps({"hostname": state["hostname"]}))
        elif self.path == "/ready":
            ready = not (CONTROL / "not-ready").exists()
            self.reply(200 if ready else 503, json.dumps({"status": 200 if ready else 503,
                                                          "readyConnections": int(ready), "connectorId": "fake"}))
        elif self.path == "/metrics":
            self.reply(200, "cloudflared_tunnel_ha_connections 1\n", "text/plain")
        else:
            self.reply(404, "404 page not found\n", "text/plain")

    def reply(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def arg(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def flood(size: int) -> None:
    line = "2024-01-01T00:00:00Z DBG " + "x" * 200 + "\n"
    for stream in (sys.stderr, sys.stdout):
        written = 0
        while written < size:
            stream.write(line)
            written += len(line)
        stream.flush()
    (CONTROL / "flooded").touch()


def shut_down(*_: object) -> None:
    log("Initiating graceful shutdown due to signal terminated ...")
    os._exit(0)


def main() -> int:
    with open(CONTROL / "starts", "a") as starts:
        starts.write(json.dumps({"pid": os.getpid(), "argv": sys.argv[1:],
                                 "tunnel_token": os.environ.get("TUNNEL_TOKEN")}) + "\n")
    if (CONTROL / "ignore-term").exists():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, shut_down)
    quick = "--url" in sys.argv
    if quick:
        log("Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to "
            "experiment and try it out. However, be aware that these account-less Tunnels have no uptime "
            "guarantee. If you intend to use Tunnels in production you should use a pre-created named tunnel by "
            "following: https://developers.cloudflare.com/cloudflare-one/connections/connect-apps")
        log("Requesting new quick Tunnel on trycloudflare.com...")
    metrics = arg("--metrics")
    if metrics:
        host, _, port = metrics.rpartition(":")
        server = ThreadingHTTPServer((host, int(port)), Metrics)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    if quick:
        announce(new_hostname())
    log("Version 2025.4.0 (Checksum 0000)")
    url = f" url:{arg('--url')}" if quick else ""
    log(f"Settings: map[metrics:{metrics} no-autoupdate:true{url}]")
    log(f"Starting metrics server on {metrics}/metrics")
    log("Registered tunnel connection connIndex=0 connection=fake event=0 ip=198.41.192.7 location=ams01 "
        "protocol=quic")
    while True:
        time.sleep(0.05)
        if (CONTROL / "crash").exists():
            (CONTROL / "crash").unlink()
            log("ERR Serve tunnel error error=\"connection with edge closed\"")
            return 3
        if (CONTROL / "new-url").exists():
            (CONTROL / "new-url").unlink()
            announce(new_hostname())
        if (CONTROL / "flood").exists():
            size = int((CONTROL / "flood").read_text() or "1000000")
            (CONTROL / "flood").unlink()
            flood(size)


if __name__ == "__main__":
    sys.exit(main())
