"""The connector tests put under the gateway's one engine: connections in memory, whose other end
is an HTTP/1.1 server (h11) answering with a ``Handler`` (``tests/rivya_side.py``).

The engine writes its requests and reads the answers as bytes, exactly as on a socket; only the
socket is missing. What the server end does to a connection is what a real one would show the
engine: an answer, a close after ``Connection: close``, a reset, a timeout (``ETIMEDOUT``), a
refused connection. It is deterministic: every byte and close is handed over through the event
loop in order, and a close is known to the engine's side at once (``is_closing``), as the
engine learns of a closed socket before reusing it.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
from collections.abc import Callable

import h11

from app.upstream.connect import Origin
from tests.rivya_side import AnswerLost, ConnectionDropped, Handler, Reply, Request, text_reply

log = logging.getLogger("tests.rivya_side")
_UNSENT_HEADERS = frozenset({"content-length", "transfer-encoding"})


class MemoryConnector:
    """Connections to ``handler`` in memory; ``go_down``/``come_back``/``cut`` are Rivya
    becoming unreachable, reachable again, and every connection broken at once."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.opened = 0  # connections made
        self.refused = 0  # connections refused while down
        self._down = False
        self._ends: set[_ServerEnd] = set()

    async def connect(self, protocol: asyncio.Protocol, origin: Origin) -> asyncio.Transport:
        if self._down:
            self.refused += 1
            raise ConnectionRefusedError(errno.ECONNREFUSED, "connection refused (Rivya is down)")
        self.opened += 1
        end = _ServerEnd(self.handler, self._ends.discard)
        self._ends.add(end)
        return end.attach(protocol)

    def go_down(self) -> None:
        """New connections are refused; an open one is closed once it has answered what it
        is answering (an idle one at once), as a server going away does."""
        self._down = True
        for end in list(self._ends):
            end.close_when_idle()

    def come_back(self) -> None:
        self._down = False

    def cut(self) -> None:
        """Every connection breaks where it stands, and no new one is made."""
        self._down = True
        for end in list(self._ends):
            end.close(ConnectionResetError(errno.ECONNRESET, "connection reset (cut)"))


class _ClientTransport(asyncio.Transport):
    """The engine's end of one in-memory connection."""

    def __init__(self, end: _ServerEnd, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self._end, self._protocol = end, protocol
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closing:
            self._end.received(bytes(data))

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self._end.client_left()

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closing

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def is_reading(self) -> bool:
        return not self.closing

    def pause_reading(self) -> None:
        pass  # answers are small and handed over whole: no flow control to do

    def resume_reading(self) -> None:
        pass


class _ServerEnd:
    """The server's end of one connection: h11 reads requests, the handler answers them."""

    def __init__(self, handler: Handler, forget: Callable[[_ServerEnd], None]) -> None:
        self._handler, self._forget = handler, forget
        self._h11 = h11.Connection(h11.SERVER)
        self._loop = asyncio.get_running_loop()
        self._serving: asyncio.Task[None] | None = None
        self._head: h11.Request | None = None
        self._body: list[bytes] = []
        self._closed = False
        self._client_gone = False
        self._close_when_idle = False

    def attach(self, protocol: asyncio.Protocol) -> _ClientTransport:
        self._protocol = protocol
        self._transport = _ClientTransport(self, protocol)
        protocol.connection_made(self._transport)
        return self._transport

    # the client's doing
    def received(self, data: bytes) -> None:
        self._h11.receive_data(data)
        self._read()

    def client_left(self) -> None:
        self._client_gone = True
        self._finish(None)  # asyncio tells a protocol of its own close too

    # the server's doing
    def close_when_idle(self) -> None:
        if self._serving is None:
            self.close(None)
        else:
            self._close_when_idle = True

    def close(self, exc: Exception | None) -> None:
        self._transport.closing = True  # known to the engine's side at once
        self._finish(exc)

    def _read(self) -> None:
        while self._serving is None and not self._closed:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self.close(ConnectionResetError(f"the request was not HTTP/1.1: {exc}"))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._head, self._body = event, []
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._serve(self._request())
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _request(self) -> Request:
        assert self._head is not None
        return request_of(self._head, b"".join(self._body))

    def _serve(self, request: Request) -> None:
        # A fresh context: the server is not the gateway's request, whose context-vars it must
        # not see (nor change).
        self._serving = self._loop.create_task(self._answer(request), context=contextvars.Context())

    async def _answer(self, request: Request) -> None:
        try:
            reply = await self._handler(request)
        except AnswerLost:
            self.close(TimeoutError(errno.ETIMEDOUT, "connection timed out (the answer was lost)"))
            return
        except ConnectionDropped:
            self.close(ConnectionResetError(errno.ECONNRESET, "connection reset by peer"))
            return
        except Exception:
            log.exception("the upstream's handler failed on %s %s", request.method, request.target)
            reply = text_reply(500, "Internal Server Error")
        self._serving = None
        if not self._closed:
            self._write(reply)

    def _write(self, reply: Reply) -> None:
        headers = [(k, v) for k, v in reply.headers if k.lower() not in _UNSENT_HEADERS]
        headers.append(("content-length", str(len(reply.body))))
        data = b"".join(
            self._h11.send(event) or b""
            for event in (
                h11.Response(status_code=reply.status, headers=headers),
                h11.Data(data=reply.body),
                h11.EndOfMessage(),
            )
        )
        self._loop.call_soon(self._hand_over, data)
        if self._h11.our_state is h11.MUST_CLOSE or self._close_when_idle:
            self.close(None)
            return
        self._h11.start_next_cycle()
        self._read()

    def _hand_over(self, data: bytes) -> None:
        if not self._client_gone:  # bytes written before a close still arrive; not after its own
            self._protocol.data_received(data)

    def _finish(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        serving, self._serving = self._serving, None
        if serving is not None and serving is not asyncio.current_task():
            serving.cancel()  # the client left (or the connection broke): nobody to answer
        self._forget(self)
        self._loop.call_soon(self._protocol.connection_lost, exc)


def request_of(head: h11.Request, body: bytes) -> Request:
    """A request h11 read, as a handler sees it."""
    raw = tuple((bytes(k), bytes(v)) for k, v in head.headers)
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Request(head.method.decode("ascii"), head.target.decode("latin-1"), headers, raw, body)
