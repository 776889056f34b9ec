"""A request uvicorn's HTTP parser refuses before the app sees it is answered in the contract's
envelope too (app/http_server.py): what a curl pasted with a Unicode ellipsis in its URL, or a
client sending a garbled Transfer-Encoding, gets back. Over a real socket: only the server's
parser sees these."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.http_server import GATEWAY_SERVER
from tests.support import Gateway, served

UNPARSEABLE = [
    "GET /v1/images/task_5e0c\u2026 HTTP/1.1\r\nHost: gw\r\n\r\n".encode(),
    b"POST /v1/files HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: @*C_1A\\-u:X8\r\n\r\n",
    b"GET /v1/usage HTTP/1.1\r\nHost: gw\r\nBad Header Name: x\r\n\r\n",
]


async def raw_exchange(url: str, request: bytes) -> tuple[str, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = await reader.read()  # the server closes the connection after it
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status, headers, body


@pytest.mark.parametrize("request_bytes", UNPARSEABLE)
async def test_a_request_the_parser_refuses_is_answered_in_the_envelope(
    gateway: Gateway, request_bytes: bytes
) -> None:
    async with served(gateway.app, **GATEWAY_SERVER) as url:
        status, headers, body = await raw_exchange(url, request_bytes)
    assert status.startswith("HTTP/1.1 400")
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "validation_failed"
    assert "Percent-encode" in error["message"]
    assert error["requestId"] == headers["x-request-id"]
    assert gateway.upstream_requests() == []
