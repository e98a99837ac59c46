"""A plain local HTTP/1.1 file server with single byte ranges, zero-copy (sendfile), in a
thread: the source the emulator's puller fetches from in tests. It records every
request (method, Range, User-Agent) and can be told to refuse HEAD or ignore Range."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeServer:
    def __init__(self, files: dict[str, Path], head: bool = True, ranges: bool = True) -> None:
        self.files = files
        self.head = head
        self.ranges = ranges
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                if not owner.head:
                    self._answer(405, 0)
                    return
                self._send(body=False)

            def do_GET(self) -> None:
                self._send(body=True)

            def _answer(self, status: int, length: int, headers: dict[str, str] | None = None) -> None:
                owner._record({"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                               "user_agent": self.headers.get("User-Agent"), "status": status})
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()

            def _send(self, body: bool) -> None:
                path = owner.files.get(self.path)
                if path is None:
                    self._answer(404, 0)
                    return
                size = path.stat().st_size
                start, end = 0, size - 1
                status, headers = 200, {"Accept-Ranges": "bytes"} if owner.ranges else {}
                spec = self.headers.get("Range", "")
                if owner.ranges and spec.startswith("bytes=") and "," not in spec:
                    first, _, last = spec[6:].partition("-")
                    if first:
                        start, end = int(first), min(int(last), size - 1) if last else size - 1
                    else:
                        start = max(0, size - int(last))
                    if start >= size or start > end:
                        self._answer(416, 0, {"Content-Range": f"bytes */{size}"})
                        return
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                self._answer(status, end - start + 1, {"Content-Type": "application/octet-stream", **headers})
                if body and end >= start:
                    with open(path, "rb") as source:
                        try:
                            self.connection.sendfile(source, start, end - start + 1)
                        except (BrokenPipeError, ConnectionResetError):
                            self.close_connection = True

        return Handler
