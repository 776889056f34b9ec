"""Real servers on loopback for the engine's conformance tests: an HTTP/1.1 server (h11, TLS
when given a context) answering with a ``Handler`` (``tests/rivya_side.py``), and a raw one for
bytes no well-behaved server writes.

The h11 server writes a reply as h11 frames it: with the reply's ``content-length``, or chunked
(in several chunks) when it has none; ``Connection: close`` closes after the answer. A handler
that raises ``ConnectionDropped`` has the connection closed without an answer; ``quiet_close``
closes every connection once it has answered, without saying so (a keep-alive timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import h11

from tests.memory_link import request_of
from tests.rivya_side import ConnectionDropped, Handler, Reply, Request

CHUNK = 1024 * 1024


class LoopbackServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.url = ""
        self.connections = 0  # connections accepted
        self.requests: list[Request] = []
        self.quiet_close = False
        self.closed = asyncio.Event()  # set each time the server closes a connection

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = h11.Connection(h11.SERVER)
        with contextlib.suppress(ConnectionError, h11.ProtocolError):
            while await self._one_exchange(connection, reader, writer):
                connection.start_next_cycle()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        self.closed.set()

    async def _one_exchange(
        self, connection: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """One request answered; whether the connection stays open for another."""
        head, body = None, b""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                connection.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                break
            else:
                return False  # the client closed
        request = request_of(head, body)
        self.requests.append(request)
        try:
            reply = await self.handler(request)
        except ConnectionDropped:
            return False  # closed without a word, the request read or not
        await _write(connection, writer, reply)
        return connection.our_state is not h11.MUST_CLOSE and not self.quiet_close


async def _write(connection: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> None:
    sized = reply.header("content-length") is not None
    head = h11.Response(status_code=reply.status, headers=list(reply.headers))
    writer.write(connection.send(head) or b"")
    body = reply.body
    size = min(CHUNK, max(1, len(body) // 3))  # several chunks, however small the body
    pieces = [body] if sized else [body[i : i + size] for i in range(0, len(body), size)]
    for piece in pieces:
        writer.write(connection.send(h11.Data(data=piece)))
        await writer.drain()
    writer.write(connection.send(h11.EndOfMessage()) or b"")
    await writer.drain()


@asynccontextmanager
async def loopback(
    handler: Handler, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[LoopbackServer]:
    """``handler`` served on a free loopback port (``server.url``: its base URL)."""
    server = LoopbackServer(handler)
    async with serving(server.serve, tls=tls) as port:
        server.url = f"{'https' if tls else 'http'}://{host}:{port}"
        yield server


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(serve: Serve, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """``serve`` run for each connection to a free loopback port; every connection is closed
    and every ``serve`` finished on exit."""
    tasks: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await serve(reader, writer)
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
