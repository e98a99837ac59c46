"""A loopback HTTP/1.1 proxy in front of the emulator's IMS that can hold the next token refresh,
so that a kill lands exactly before IMS sees it or after IMS has answered."""

from __future__ import annotations

import asyncio
import contextlib

import httpx


class HoldingProxy:

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self.phase: str | None = None  # "before" | "after" | None
        self.holding = asyncio.Event()
        self._release = asyncio.Event()
        self._drop = False
        self._http = httpx.AsyncClient(timeout=10)
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        await self._http.aclose()

    def hold_next(self, phase: str) -> None:
        self.phase, self.holding, self._release = phase, asyncio.Event(), asyncio.Event()
        self._drop = False

    def release(self, drop: bool = False) -> None:
        """Lets the held call go on, or drops it (its client died: it never reaches IMS)."""
        self.phase, self._drop = None, drop
        self._release.set()

    async def _hold(self, phase: str) -> None:
        if self.phase == phase:
            self.holding.set()
            await self._release.wait()
            if self._drop:
                raise ConnectionResetError("dropped")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ", 2)
                headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in head[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                refresh = b"grant_type=refresh_token" in body
                if refresh:
                    await self._hold("before")
                response = await self._http.request(method, self.upstream + target, content=body,
                                                     headers={"content-type": headers.get("content-type", "")})
                if refresh:
                    await self._hold("after")
                kept = "".join(f"{k}: {v}\r\n" for k, v in response.headers.items()
                               if k not in ("content-length", "transfer-encoding", "connection"))
                writer.write(f"HTTP/1.1 {response.status_code} -\r\n{kept}content-length: "
                             f"{len(response.content)}\r\n\r\n".encode("latin-1") + response.content)
                await writer.drain()
        writer.close()
