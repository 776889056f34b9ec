"""The gateway's server transport: what uvicorn writes in one turn of the event loop leaves in
one send, in order, and nothing written is lost to a close."""

from __future__ import annotations

import asyncio
from typing import Any

from app.http_server import COALESCE_AT_MOST, CoalescedTransport


class Recorded(asyncio.Transport):
    """A transport that records each send it is asked to make."""

    def __init__(self) -> None:
        super().__init__()
        self.sends: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.sends.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0  # every send taken at once


async def test_a_response_s_head_and_body_leave_in_one_send_in_order() -> None:
    raw = Recorded()
    transport = CoalescedTransport(raw)
    transport.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert raw.sends == []  # not before the turn ends
    await asyncio.sleep(0)
    assert raw.sends == [b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")  # a later turn's writes are a send of their own
    await asyncio.sleep(0)
    assert raw.sends[1:] == [b"next"]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"done")
    transport.flush()  # the response is complete: it leaves at once
    assert raw.sends[2:] == [b"HTTP/1.1 200 OK\r\n\r\ndone"]
    await asyncio.sleep(0)
    assert raw.sends[3:] == []


async def test_a_close_sends_what_was_written_first() -> None:
    raw = Recorded()
    transport = CoalescedTransport(raw)
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()  # as uvicorn closes after an unparseable request's answer
    assert raw.sends == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert raw.closed
    await asyncio.sleep(0)
    assert raw.sends == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]  # sent once


async def test_an_abort_sends_nothing_more() -> None:
    raw = Recorded()
    transport = CoalescedTransport(raw)
    transport.write(b"partial")
    transport.abort()
    await asyncio.sleep(0)
    assert raw.sends == []
    assert raw.aborted


async def test_a_large_body_goes_to_the_socket_as_it_comes_not_at_the_end_of_the_turn() -> None:
    """A body streamed without a pause is not held whole in memory: uvicorn's flow control
    watches the socket transport's buffer, so that buffer must see the bytes."""
    raw = Recorded()
    transport = CoalescedTransport(raw)
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    chunk = b"x" * (COALESCE_AT_MOST // 4)
    for _ in range(8):
        transport.write(chunk)
    assert len(raw.sends) == 2  # two sends of at least COALESCE_AT_MOST each, in the turn
    assert transport.get_write_buffer_size() < COALESCE_AT_MOST
    await asyncio.sleep(0)
    assert b"".join(raw.sends) == b"HTTP/1.1 200 OK\r\n\r\n" + chunk * 8
