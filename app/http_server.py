"""The gateway's HTTP server: uvicorn, set up once for ``rivya-gateway serve`` and the tests
that serve the gateway on a real socket.

Two departures from uvicorn's defaults. A request its HTTP parser refuses before the app sees
it (a non-ASCII character in the URL, a malformed header such as a garbled
``Transfer-Encoding``) is answered in the contract's error envelope, with a request id, instead
of uvicorn's plain-text "Invalid HTTP request received." Every answer is then the envelope.
And a response's head and body leave in one send, not two (``CoalescedTransport``)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.context import new_request_id
from app.rivya_schemas import error_envelope

UNPARSEABLE = (
    "The request is not well-formed HTTP/1.1: its request line or a header could not be read "
    "({detail}). Percent-encode any character outside ASCII in the URL, and check the headers; "
    "nothing was read or sent."
)


COALESCE_AT_MOST = 64 * 1024  # bytes held for one send; past it, they are sent at once


class CoalescedTransport(asyncio.Transport):
    """A connection's transport whose writes made in one turn of the event loop leave in one
    send: uvicorn writes a response's head and its body apart, and each write is a system
    call (the two together ~5 % of a create's CPU, bench/README.md). The writes are sent, in
    order, when the response is complete, at the end of the turn, or before the connection
    closes, whichever comes first."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= COALESCE_AT_MOST:
            # A large body streamed in one turn goes to the socket's transport as it comes, so
            # uvicorn's flow control (it pauses the app when that transport's buffer is full)
            # bounds it as before, rather than this list.
            self.flush()

    def flush(self) -> None:
        """Send what was written, now (else it goes at the end of this turn)."""
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._pending_bytes

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        self._coalesced = CoalescedTransport(transport)
        super().connection_made(self._coalesced)

    def on_response_complete(self) -> None:
        # The response's last byte is written: it leaves now, not after the work that follows
        # it in this turn (the access log line, the metrics).
        self._coalesced.flush()
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        request_id = new_request_id()
        detail = msg.rstrip(".") or "unreadable"
        body = orjson.dumps(
            error_envelope("validation_failed", UNPARSEABLE.format(detail=detail), request_id)
        )
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head += [
            b"content-type: application/json\r\n",
            b"x-request-id: " + request_id.encode() + b"\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


# What every server of the gateway's app runs with (beside host, port and workers).
GATEWAY_SERVER: dict[str, Any] = {
    "http": EnvelopeHttpToolsProtocol,
    "server_header": False,
    "proxy_headers": True,
}
