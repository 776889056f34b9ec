"""The aiohttp engine tells "nothing was sent" from "sent, then lost", on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from app.upstream.client import RivyaClient
from app.upstream.failures import UpstreamFailure, Why
from app.upstream.resilience import RetryPolicy
from app.upstream.transport import create_transport
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
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=create_transport(10), timeout=httpx.Timeout(0.3)
    ) as http:
        yield http


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{free_port()}/api/v1/generations", json={})


async def test_a_server_that_hangs_up_after_the_request_is_not_a_connect_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async with raw_server(hang_up) as url, client() as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.post(f"{url}/api/v1/generations", json={"model": "m"})
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)


async def test_no_answer_in_time_is_a_read_timeout() -> None:
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await release.wait()
        writer.close()

    async with raw_server(silent) as url, client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"{url}/api/v1/credits")
        release.set()


async def test_an_answer_comes_through_whole() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = b'{"current_credits": 42}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()

    async with raw_server(answer) as url, client() as http:
        response = await http.get(f"{url}/api/v1/credits")
    assert response.status_code == 200
    assert response.json() == {"current_credits": 42}


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
        client = RivyaClient(
            base_url=url,
            api_key="rvya_sk_test",
            timeout=0.4,
            connect_timeout=0.4,
            max_connections=2,
            transport=create_transport(2),
            retry=RetryPolicy(attempts=1),
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamFailure) as caught:
            await client.get_credits()
        elapsed = loop.time() - started
        await client.aclose()
        stop.set()
        await finished.wait()
    assert elapsed < 1.5
    assert caught.value.why is Why.TIMEOUT
    assert caught.value.may_have_acted
