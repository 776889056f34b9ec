"""How the engine reads answers from a real server: chunked, closed with ``Connection: close``,
delimited by the server's close; and an answer larger than it reads refused as a failure that
says so (Rivya answered, unread: it may have acted)."""

from __future__ import annotations

import asyncio

import pytest

from app.upstream.failures import UpstreamFailure, Why
from app.upstream.http1 import MAX_ANSWER_BYTES
from app.upstream_errors import error_for
from tests.rivya_side import Reply, Request
from tests.upstream.conftest import wired_client
from tests.upstream.loopback import loopback, serving

BALANCE = b'{"current_credits": 42}'


async def chunked(_: Request) -> Reply:
    return Reply(200, (("content-type", "application/json"),), BALANCE)  # no length: chunked


async def closing(_: Request) -> Reply:
    return Reply(
        200,
        (("content-type", "application/json"), ("connection", "close")),
        BALANCE,
    )


async def test_chunked_answers_are_read_whole_and_the_connection_kept() -> None:
    async with loopback(chunked) as server:
        client = wired_client(server.url)
        try:
            assert [await client.balance() for _ in range(3)] == [42, 42, 42]
        finally:
            await client.aclose()
    assert server.connections == 1


async def test_an_answer_with_connection_close_is_read_and_its_connection_not_reused() -> None:
    async with loopback(closing) as server:
        client = wired_client(server.url)
        try:
            assert [await client.balance() for _ in range(3)] == [42, 42, 42]
        finally:
            await client.aclose()
    assert server.connections == 3


async def test_an_answer_without_length_ends_where_the_server_closes() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + BALANCE)
        await writer.drain()
        writer.close()

    async with serving(until_close) as port:
        client = wired_client(f"http://127.0.0.1:{port}")
        try:
            assert [await client.balance() for _ in range(2)] == [42, 42]
        finally:
            await client.aclose()


async def test_a_chunked_answer_past_the_cap_is_refused_saying_so() -> None:
    async def huge(_: Request) -> Reply:
        return Reply(200, (("content-type", "application/json"),), b" " * (MAX_ANSWER_BYTES + 1))

    async with loopback(huge) as server:
        client = wired_client(server.url)
        try:
            with pytest.raises(UpstreamFailure) as caught:
                await client.create_generation({"model": "m"}, idempotency_key="k")
        finally:
            await client.aclose()
    failure = caught.value
    assert (failure.why, failure.may_have_acted, failure.status) == (Why.UNREADABLE, True, 200)
    said = error_for(failure).message
    assert f"larger than the {MAX_ANSWER_BYTES} bytes the gateway reads" in said


async def test_a_declared_length_past_the_cap_is_refused_before_its_body_is_read() -> None:
    async def announces_too_much(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n{" % (MAX_ANSWER_BYTES + 1))
        await writer.drain()
        await reader.read()  # holds the connection until the client drops it

    async with serving(announces_too_much) as port:
        client = wired_client(f"http://127.0.0.1:{port}")  # a 5 s deadline
        try:
            with pytest.raises(UpstreamFailure) as caught:
                await client.balance()
        finally:
            await client.aclose()
    # Refused on the head, at once: not a timeout waiting for 16 MB that never come.
    assert (caught.value.why, caught.value.status) == (Why.UNREADABLE, 200)
