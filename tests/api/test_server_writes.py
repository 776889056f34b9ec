"""What clients send that only the server sees, over a real socket, now that a response's
head and body leave in one send (app/http_server.py): curl's ``Expect: 100-continue`` (it sends
it for bodies past 1 MB, and some clients for every POST) must get its interim answer before the
body is sent, and requests pipelined on one keep-alive connection get their answers whole and
in order."""

from __future__ import annotations

import asyncio
import json

from app.clock import FakeClock
from app.http_server import GATEWAY_SERVER
from tests.support import Gateway, assert_books_close, served, settle_all

BODY = json.dumps({"prompt": "a lighthouse", "client_request_id": "{id}"})


def create(key: str, client_request_id: str, *, expect: bool = False) -> tuple[bytes, bytes]:
    body = BODY.replace("{id}", client_request_id).encode()
    head = (
        "POST /v1/images HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + "\r\n"
    )
    return head.encode(), body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status, *lines = head.decode().rstrip("\r\n").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), 5)
    return int(status.split()[1]), headers, body


async def test_expect_100_continue_is_answered_before_the_body_is_sent(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    async with served(gateway.app, **GATEWAY_SERVER) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head, body = create(key, "expect-1", expect=True)
        writer.write(head)
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(body)
        status, _, answer = await read_answer(reader)
        writer.close()
    assert status == 202
    assert json.loads(answer)["client_request_id"] == "expect-1"
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_pipelined_creates_are_answered_whole_and_in_order(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    ids = [f"pipelined-{n}" for n in range(3)]
    async with served(gateway.app, **GATEWAY_SERVER) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"".join(b"".join(create(key, i)) for i in ids))  # one write, three creates
        await writer.drain()
        answers = [await read_answer(reader) for _ in ids]
        writer.close()
    assert [status for status, _, _ in answers] == [202] * 3
    assert [json.loads(body)["client_request_id"] for _, _, body in answers] == ids
    assert len({headers["x-request-id"] for _, headers, _ in answers}) == 3
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")
    creates = [r for r in gateway.upstream_requests("/api/v1/generations") if r.method == "POST"]
    assert len(creates) == 3  # one upstream create each, none twice
