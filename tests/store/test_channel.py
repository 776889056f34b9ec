"""The scripts' pipelined connection (store/channel.py) against a real redis-server: answers
reach their own callers, failures say whether the command may have run, and it recovers by
itself from a stall, a restart and a script flush."""

from __future__ import annotations

import asyncio

import pytest
from redis import Redis as SyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.errors import StoreUnavailable
from app.store.channel import BURST_AT_MOST, ChannelScript, ScriptChannel, open_channel
from app.store.redis import store_errors
from tests.support import RedisServer, free_port

COUNT = "return redis.call('INCR', KEYS[1])"


def channel_for(url: str, timeout: float = 2.0) -> ScriptChannel:
    channel = open_channel(url, timeout=timeout)
    assert channel is not None
    return channel


async def test_many_commands_in_flight_each_get_their_own_answer(redis_url: str) -> None:
    channel = channel_for(redis_url)
    echo = ChannelScript(channel, "return ARGV[1] .. ':' .. KEYS[1]")
    answers = await asyncio.gather(*(echo(keys=[f"k{i}"], args=[i]) for i in range(300)))
    assert answers == [f"{i}:k{i}" for i in range(300)]
    await channel.aclose()


async def test_a_burst_of_commands_leaves_before_the_turn_that_made_it_ends(
    redis_url: str,
) -> None:
    """Commands made in one turn of the event loop leave together, but not only at its end:
    at load a turn makes ~30 creates' commands, and Redis, which answers a burst only once it
    has run all of it, should be running the first while the gateway makes the rest."""
    channel = channel_for(redis_url)
    push = ChannelScript(channel, "return redis.call('RPUSH', KEYS[1], ARGV[1])")
    await push(keys=["burst:warm"], args=[0])  # connected, and the script loaded
    burst = [
        asyncio.ensure_future(push(keys=["burst:ran"], args=[i])) for i in range(BURST_AT_MOST)
    ]
    seen: list[object] = []

    def later_in_the_same_turn() -> None:
        # Blocks the loop: only what has already left can run at Redis meanwhile.
        with SyncRedis.from_url(redis_url) as peek:
            seen.append(peek.blpop(["burst:ran"], timeout=2))

    asyncio.get_running_loop().call_soon(later_in_the_same_turn)
    await asyncio.gather(*burst)
    assert seen == [(b"burst:ran", b"0")]
    await channel.aclose()


async def test_a_redis_that_refuses_connections_means_nothing_was_sent() -> None:
    channel = channel_for(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    with pytest.raises(StoreUnavailable) as caught:
        async with store_errors():
            await channel.execute("PING")
    assert not caught.value.may_have_run
    assert isinstance(caught.value.__cause__, RedisConnectionError)


async def test_a_stall_past_the_timeout_may_have_run_and_the_channel_recovers(
    redis_server: RedisServer, redis_url: str
) -> None:
    channel = channel_for(redis_url, timeout=0.3)
    count = ChannelScript(channel, COUNT)
    assert await count(keys=["stalled"], args=[]) == 1
    redis_server.stall(1.0)
    with pytest.raises(StoreUnavailable) as caught:
        async with store_errors():
            await count(keys=["stalled"], args=[])
    assert caught.value.may_have_run
    assert isinstance(caught.value.__cause__, RedisTimeoutError)
    SyncRedis(port=redis_server.port, socket_timeout=10).ping()  # answers once the stall ends
    # Redis ran it after all, once the stall was over: "may have run" was the truth. The next
    # call reconnects by itself.
    assert await count(keys=["stalled"], args=[]) == 3
    await channel.aclose()


async def test_a_restart_is_noticed_and_the_next_call_reconnects(
    redis_server: RedisServer, redis_url: str
) -> None:
    lost = asyncio.Event()
    channel = open_channel(redis_url, timeout=1.0, on_lost=lost.set)
    assert channel is not None
    count = ChannelScript(channel, COUNT)
    assert await count(keys=["restarted"], args=[]) == 1
    redis_server.stop()
    await asyncio.wait_for(lost.wait(), 5)  # told at once, not at the next command
    with pytest.raises(StoreUnavailable) as caught:
        async with store_errors():
            await count(keys=["restarted"], args=[])
    assert not caught.value.may_have_run  # no connection could be made: nothing was sent
    redis_server.start()
    assert await count(keys=["restarted"], args=[]) == 1  # a fresh, empty Redis
    await channel.aclose()


async def test_a_flushed_script_is_loaded_again_and_an_error_reply_is_raised(
    redis_url: str, redis_server: RedisServer
) -> None:
    channel = channel_for(redis_url)
    count = ChannelScript(channel, COUNT)
    assert await count(keys=["flushed"], args=[]) == 1
    SyncRedis(port=redis_server.port).script_flush()
    assert await count(keys=["flushed"], args=[]) == 2  # NOSCRIPT: nothing ran, loaded, run once
    failing = ChannelScript(channel, "return redis.error_reply('NOPE not today')")
    with pytest.raises(ResponseError, match="NOPE not today"):
        await failing(keys=[], args=[])
    assert await count(keys=["flushed"], args=[]) == 3  # the connection carries on
    await channel.aclose()


async def test_the_url_password_and_database_are_used(
    redis_url: str, redis_server: RedisServer
) -> None:
    admin = SyncRedis(port=redis_server.port)
    admin.config_set("requirepass", "s3cret-pass")
    try:
        channel = channel_for(f"redis://:s3cret-pass@127.0.0.1:{redis_server.port}/5")
        assert await ChannelScript(channel, COUNT)(keys=["in-db-5"], args=[]) == 1
        await channel.aclose()
        check = SyncRedis(port=redis_server.port, password="s3cret-pass", db=5)
        assert check.get("in-db-5") == b"1"
        check.close()
        wrong = channel_for(f"redis://:wrong@127.0.0.1:{redis_server.port}/0")
        with pytest.raises(StoreUnavailable) as refused:
            async with store_errors():
                await wrong.execute("PING")
        assert not refused.value.may_have_run  # refused at AUTH: the command was never sent
        await wrong.aclose()
    finally:
        SyncRedis(port=redis_server.port, password="s3cret-pass").config_set("requirepass", "")
        admin.close()


def test_only_single_node_urls_get_a_channel() -> None:
    assert open_channel("redis://localhost:6379/0", timeout=1) is not None
    assert open_channel("unix:///run/redis.sock", timeout=1) is not None
    for url in (
        "rediss://localhost:6380/0",
        "redis+sentinel://localhost:26379/mymaster",
        "redis+cluster://localhost:7000",
    ):
        assert open_channel(url, timeout=1) is None
