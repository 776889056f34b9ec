"""A small HTTP CONNECT proxy on loopback, for the engine's proxy tests: h11 reads the CONNECT,
then bytes are piped both ways to a loopback port (whatever name was asked for: the proxy, not
the gateway, resolves names, as an egress proxy does). It keeps everything the gateway sent
through it, to show what a proxy could read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import h11

from tests.upstream.loopback import serving


class ConnectProxy:
    def __init__(self, target_port: int, *, credentials: str | None = None) -> None:
        self.target_port = target_port
        # "user:password" the proxy requires (Proxy-Authorization: Basic), or None
        self.credentials = credentials
        self.url = ""
        self.asked: list[str] = []  # the authorities asked for, in order
        self.received = bytearray()  # every byte the gateway sent: CONNECTs and tunnels

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        head = await self._connect_request(connection, reader)
        if head is None:
            return
        self.asked.append(head.target.decode("latin-1"))
        if not self._allowed(head):
            writer.write(
                connection.send(
                    h11.Response(
                        status_code=407,
                        headers=[("proxy-authenticate", 'Basic realm="egress"')],
                    )
                )
                + (connection.send(h11.EndOfMessage()) or b"")
            )
            await writer.drain()
            return
        writer.write(connection.send(h11.Response(status_code=200, headers=[])) or b"")
        early, _ = connection.trailing_data
        target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        try:
            target_writer.write(early)  # sent with the CONNECT: received already
            await asyncio.gather(
                self._pipe(reader, target_writer, record=True),
                self._pipe(target_reader, writer, record=False),
            )
        finally:
            target_writer.close()

    async def _connect_request(
        self, connection: h11.Connection, reader: asyncio.StreamReader
    ) -> h11.Request | None:
        head = None
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                self.received += data
                connection.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return head if head.method == b"CONNECT" else None
            else:
                return None

    def _allowed(self, head: h11.Request) -> bool:
        if self.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        given = dict(head.headers).get(b"proxy-authorization", b"").decode("latin-1")
        return given == expected

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, record: bool
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if record:
                    self.received += data
                sink.write(data)
                await sink.drain()
        with contextlib.suppress(OSError):
            sink.write_eof()


@asynccontextmanager
async def connect_proxy(
    target_port: int, *, credentials: str | None = None
) -> AsyncIterator[ConnectProxy]:
    proxy = ConnectProxy(target_port, credentials=credentials)
    async with serving(proxy.serve) as port:
        proxy.url = f"http://127.0.0.1:{port}"
        yield proxy
