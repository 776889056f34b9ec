"""Redis's failures named by their cause (issue 24.4): a wrong password is "auth refused", not
"unreachable"; likewise DNS, a refused connection, something that is not Redis. Each against a
real server (or a real socket), through both ways the gateway talks to Redis: redis-py's client
and the scripts' pipelined channel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock
from app.errors import StoreUnavailable
from app.outages import Outage
from app.store.channel import open_channel
from app.store.redis import close_redis, create_redis, store_errors
from app.store.redis_causes import redis_cause
from tests.support import RedisServer, free_port, gateway_settings, running_gateway


@pytest.fixture
def locked_redis() -> Iterator[RedisServer]:
    """A redis-server of its own that asks for a password (so no other test meets it)."""
    server = RedisServer()
    server.start()
    SyncRedis(port=server.port).config_set("requirepass", "the-right-one")
    yield server
    server.stop()


async def cause_of(url: str) -> str:
    """What a command meets through redis-py's client, and through the channel: one cause."""
    causes = []
    redis = create_redis(url, timeout=1)
    try:
        with pytest.raises(StoreUnavailable) as client:
            async with store_errors():
                await redis.ping()
        causes.append(redis_cause(client.value))
    finally:
        await close_redis(redis)
    channel = open_channel(url, timeout=1)
    assert channel is not None
    try:
        with pytest.raises(StoreUnavailable) as scripts:
            async with store_errors():
                await channel.execute("PING")
        causes.append(redis_cause(scripts.value))
    finally:
        await channel.aclose()
    assert causes[0].split(":")[0] == causes[1].split(":")[0], causes
    return causes[0]


async def test_a_wrong_or_missing_password_is_auth_refused(locked_redis: RedisServer) -> None:
    for url in (
        f"redis://:wrong@127.0.0.1:{locked_redis.port}/0",
        f"redis://127.0.0.1:{locked_redis.port}/0",
    ):
        cause = await cause_of(url)
        assert cause.startswith("auth refused:"), cause
        assert "REDIS_URL" in cause
        assert "wrong" not in cause  # never the password tried


async def test_nothing_listening_is_a_refused_connection() -> None:
    cause = await cause_of(f"redis://127.0.0.1:{free_port()}/0")
    assert cause.startswith("connection refused:"), cause


async def test_a_host_that_does_not_resolve_is_dns() -> None:
    cause = await cause_of("redis://no-such-redis.invalid:6379/0")
    assert cause.startswith("DNS:"), cause


@pytest.fixture
async def http_server() -> AsyncIterator[int]:
    """Something else at the address: it answers every connection as an HTTP server would."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_an_address_where_something_else_answers_is_not_redis(http_server: int) -> None:
    redis = create_redis(f"redis://127.0.0.1:{http_server}/0", timeout=1)
    try:
        with pytest.raises(StoreUnavailable) as failed:
            async with store_errors():
                await redis.ping()
    finally:
        await close_redis(redis)
    assert redis_cause(failed.value).startswith("not Redis:")


def test_an_outage_is_said_once_with_its_cause_then_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    outage = Outage(logging.getLogger("test.outage"), "settler paused", clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(120):  # a minute of ticks, twice a second
            outage.failed("auth refused: …")
            now[0] += 0.5
        outage.failed("auth refused: …")  # a minute on: said again, with how many it hid
        outage.failed("timeout: …")  # another cause: said at once
        outage.over()
        outage.over()  # once
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", "settler paused: auth refused: …"),
        ("WARNING", "settler paused: auth refused: …"),
        ("WARNING", "settler paused: timeout: …"),
        ("INFO", "settler paused: over (it was: timeout: …)"),
    ]
    assert [getattr(r, "repeats_since_last", None) for r in caplog.records[:3]] == [0, 119, 0]


async def test_readiness_names_a_wrong_redis_password(
    locked_redis: RedisServer, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(f"redis://:wrong@127.0.0.1:{locked_redis.port}/0")
    async with running_gateway(settings, sim_app, clock) as gw:
        answer = await gw.http.get("/readyz")
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["redis"] == "unreachable"
        assert checks["redis_cause"].startswith("auth refused:")
        assert "wrong" not in answer.text
        # Redis is given the password the gateway has: ready again, with nothing to restart.
        SyncRedis(port=locked_redis.port, password="the-right-one").config_set(
            "requirepass", "wrong"
        )
        answer = await gw.http.get("/readyz")
        assert answer.status_code == 200
        assert "redis_cause" not in answer.json()["checks"]
