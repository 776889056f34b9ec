"""The engine (upstream/http1.py) on real sockets: it tells "nothing was sent" from "sent, then
lost", bounds the whole answer, keeps connections alive and reuses them only when that is safe,
reads chunked answers, speaks TLS, and holds at most its pool's connections. (The conformance
tests beside this file go further: test_tls, test_proxy, test_keep_alive, test_answers.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.upstream.client import RivyaClient
from app.upstream.connect import NetworkConnector
from app.upstream.failures import UpstreamFailure, Why
from app.upstream.http1 import Http1Engine
from app.upstream.resilience import RetryPolicy
from tests.support import free_port
from tests.upstream.certificates import PrivateCA

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler, **options: Any) -> AsyncIterator[str]:
    """A TCP server running ``handler`` per connection; every connection is closed on exit."""
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away: so be it
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, **options)
    port = server.sockets[0].getsockname()[1]
    scheme = "https" if options.get("ssl") else "http"
    async with server:
        try:
            yield f"{scheme}://127.0.0.1:{port}"
        finally:
            server.close()
            for writer in writers:
                writer.close()
            await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)


async def read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


@asynccontextmanager
async def client(url: str, deadline: float = 0.3) -> AsyncIterator[RivyaClient]:
    """A client with a short deadline, for the tests of what a late answer means; the tests of
    keep-alive give a long one (a pause of the whole test process must not fail them)."""
    rivya = RivyaClient(  # no connector: the network
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


async def test_a_create_ends_within_its_lease_whatever_its_attempts_and_budget_allow() -> None:
    """A create is sent under its lease (services/forwarding.py passes what is left of it):
    the attempt still waiting when it runs out is stopped, its outcome unknown, and no retry
    starts after it, though the client's own timeout and retries would go on for a minute."""
    requests: list[bytes] = []
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        await release.wait()

    async with raw_server(silent) as url:
        rivya = RivyaClient(
            base_url=url,
            api_key="rvya_sk_test",
            timeout=30,
            connect_timeout=30,
            max_connections=2,
            retry=RetryPolicy(attempts=3, budget_seconds=60),
        )
        try:
            async with asyncio.timeout(10):  # the test's own guard, far past the lease
                with pytest.raises(UpstreamFailure) as caught:
                    await rivya.create_generation({"model": "m"}, idempotency_key="k", within=0.3)
        finally:
            release.set()
            await rivya.aclose()
    assert caught.value.why is Why.TIMEOUT
    assert caught.value.may_have_acted
    assert len(requests) == 1


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


def answer_bytes(body: bytes, *, close: bool = False, chunked: bool = False) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    if close:
        head += b"connection: close\r\n"
    if chunked:
        middle = len(body) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:middle], body[middle:]))
        return head + b"transfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


class Connections:
    """A keep-alive server that counts the connections it was given."""

    def __init__(self, **shape: bool) -> None:
        self.opened = 0
        self.shape = shape

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(answer_bytes(b'{"current_credits": %d}' % self.opened, **self.shape))
                await writer.drain()
                if self.shape.get("close"):
                    break
        writer.close()


async def test_connections_are_kept_alive_and_reused() -> None:
    server = Connections()
    async with raw_server(server) as url, client(url, deadline=5) as rivya:
        balances = [await rivya.balance() for _ in range(5)]
    assert balances == [1] * 5
    assert server.opened == 1


async def test_a_chunked_answer_is_read_whole() -> None:
    server = Connections(chunked=True)
    async with raw_server(server) as url, client(url, deadline=5) as rivya:
        assert [await rivya.balance() for _ in range(3)] == [1, 1, 1]


async def test_an_answer_that_closes_its_connection_is_not_reused() -> None:
    server = Connections(close=True)
    async with raw_server(server) as url, client(url, deadline=5) as rivya:
        assert [await rivya.balance() for _ in range(3)] == [1, 2, 3]
    assert server.opened == 3


async def test_an_idle_connection_the_server_closed_is_not_used_again() -> None:
    closed = asyncio.Event()

    async def one_answer_then_idle_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(answer_bytes(b'{"current_credits": 7}'))
        await writer.drain()
        writer.close()  # the server's keep-alive timeout, without saying so in the answer
        await writer.wait_closed()
        closed.set()

    async with raw_server(one_answer_then_idle_close) as url:
        rivya = RivyaClient(
            base_url=url, api_key="k", timeout=2, connect_timeout=2, max_connections=2
        )
        assert await rivya.balance() == 7
        await closed.wait()
        # An answer, not an error: the closed connection is dropped when its close is read, and
        # a request that met it first is sent again on a fresh one (the default retries).
        assert await rivya.balance() == 7
        await rivya.aclose()


async def test_a_cancelled_exchange_drops_its_connection(  # a late answer is never misread
) -> None:
    server = Connections()
    release = asyncio.Event()

    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if server.opened == 0:
            server.opened += 1
            await read_request(reader)
            await release.wait()
            writer.write(answer_bytes(b'{"current_credits": 999}'))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        await server(reader, writer)

    async with raw_server(slow_first) as url, client(url) as rivya:
        with pytest.raises(UpstreamFailure) as caught:
            await rivya.balance()  # past the deadline
        assert caught.value.why is Why.TIMEOUT
        release.set()
        assert await rivya.balance() == 2  # a new connection's answer, not the late 999


async def test_at_most_the_pools_connections_are_open() -> None:
    busy, peak, gate = 0, 0, asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal busy, peak
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await read_request(reader)
                busy += 1
                peak = max(peak, busy)
                if peak >= 2:
                    gate.set()
                await gate.wait()
                busy -= 1
                writer.write(answer_bytes(b'{"current_credits": 1}'))
                await writer.drain()

    async with raw_server(hold) as url, client(url, deadline=5) as rivya:
        assert await asyncio.gather(*(rivya.balance() for _ in range(6))) == [1] * 6
    assert peak == 2  # max_connections=2


async def test_https_is_spoken_and_the_certificate_checked(ca: PrivateCA) -> None:
    async with raw_server(Connections(), ssl=ca.server_context("localhost")) as url:
        url = url.replace("127.0.0.1", "localhost")  # the name the certificate is for
        trusting = ca.trusting()
        engine = Http1Engine(
            url,
            {},
            connect_timeout=2,
            max_connections=2,
            connector=NetworkConnector(ssl_context=trusting),
        )
        answer = await engine.send("GET", "/api/v1/credits", {})
        assert (answer.status, answer.content) == (200, b'{"current_credits": 1}')
        await engine.aclose()
        # A certificate nobody vouches for is refused before anything is sent.
        doubting = Http1Engine(url, {}, connect_timeout=2, max_connections=2)
        with pytest.raises(UpstreamFailure) as caught:
            await doubting.send("POST", "/api/v1/generations", {}, content=b"{}")
        assert caught.value.why is Why.UNREACHABLE
        assert not caught.value.may_have_acted
