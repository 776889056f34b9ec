"""The gateway's HTTP server: uvicorn, set up once for ``rivya-gateway serve`` and the tests
that serve the gateway on a real socket.

One departure from uvicorn's defaults: a request its HTTP parser refuses before the app sees
it (a non-ASCII character in the URL, a malformed header such as a garbled
``Transfer-Encoding``) is answered in the contract's error envelope, with a request id, instead
of uvicorn's plain-text "Invalid HTTP request received." Every answer is then the envelope."""

from __future__ import annotations

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


class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
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
