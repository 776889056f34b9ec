"""The aiohttp engine tells "nothing was sent" from "sent, then lost", on real sockets, and
bounds the whole answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from app.upstream.client import RivyaClient
from app.upstream.failures import UpstreamFailure, Why
from app.upstream.resilience import RetryPolicy
from tests.support import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"
        server.close()


async def read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


@asynccontextmanager
async def client(url: str, deadline: float = 0.3) -> AsyncIterator[RivyaClient]:
    rivya = RivyaClient(  # no transport: the production engine, aiohttp
        base_url=url,
        api_key="rvya_sk_test",
        timeout=deadline,
        connect_timeout=deadline,
        max_connections=2,
        retry=RetryPolicy(attempts=1),  # one attempt: its own outcome is the answer
    )
    try:
        yield rivya
    finally:
        await rivya.aclose()


async def test_a_refused_connection_means_nothing_was_sent() -> None:
    async with client(f"http://127.0.0.1:{free_port()}") as rivya:
        with pytest.raises(UpstreamFailure) as caught:
            await rivya.create_generation({"model": "m"}, idempotency_key="k")
    assert caught.value.why is Why.UNREACHABLE
    assert not caught.value.may_have_acted


async def test_a_server_that_hangs_up_after_the_request_may_have_acted() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async with raw_server(hang_up) as url, client(url) as rivya:
        with pytest.raises(UpstreamFailure) as caught:
            await rivya.create_generation({"model": "m"}, idempotency_key="k")
    assert caught.value.why is Why.CONNECTION_LOST
    assert caught.value.may_have_acted


async def test_no_answer_in_time_may_have_acted() -> None:
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await release.wait()
        writer.close()

    async with raw_server(silent) as url, client(url) as rivya:
        with pytest.raises(UpstreamFailure) as caught:
            await rivya.create_generation({"model": "m"}, idempotency_key="k")
        release.set()
    assert caught.value.why is Why.TIMEOUT
    assert caught.value.may_have_acted


async def test_an_answer_comes_through_whole_with_the_org_key_sent() -> None:
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        body = b'{"current_credits": 42}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()

    async with raw_server(answer) as url, client(url) as rivya:
        assert await rivya.balance() == 42
    assert b"authorization: bearer rvya_sk_test" in seen[0].lower()


async def test_a_trickling_answer_is_cut_off_at_the_overall_timeout() -> None:
    """Each byte comes within the read timeout; the whole answer does not come in time."""

    stop, finished = asyncio.Event(), asyncio.Event()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            while not stop.is_set():
                writer.write(b" ")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.05)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        finished.set()

    async with raw_server(trickle) as url:
        loop = asyncio.get_running_loop()
        async with client(url, deadline=0.4) as rivya:
            started = loop.time()
            with pytest.raises(UpstreamFailure) as caught:
                await rivya.get_credits()
            elapsed = loop.time() - started
        stop.set()
        await finished.wait()
    assert elapsed < 1.5
    assert caught.value.why is Why.TIMEOUT
    assert caught.value.may_have_acted
