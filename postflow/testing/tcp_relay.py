"""A loopback TCP relay in front of a local port, on a port of its own that it can leave and
take again: a stand-in for a tunnel whose public URL stops answering and comes back."""

from __future__ import annotations

import asyncio


class TcpRelay:
    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Closes the port and cuts every relayed connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        pair = {client_writer, target_writer}
        self._open |= pair
        try:
            await asyncio.gather(self._pipe(client_reader, target_writer, pair),
                                 self._pipe(target_reader, client_writer, pair))
        finally:
            self._open -= pair
            for writer in pair:
                writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    pair: set[asyncio.StreamWriter]) -> None:
        """Copies until end of stream (passed on as a half-close); an error cuts both directions."""
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:  # ConnectionError included
            for each in pair:
                each.transport.abort()
