"""Every per-team structure has a retention: the task index forgets what the tasks forgot."""

from __future__ import annotations

from redis.asyncio import Redis

from app.store.keyspace import KeySpace
from tests.store.conftest import Stores


async def test_the_task_index_drops_tasks_older_than_their_retention(
    stores: Stores, redis_url: str
) -> None:
    await stores.team(rate_limit_per_minute=1000)
    old = await stores.record(await stores.admitted())
    stores.clock.advance(3601)  # the stores keep tasks an hour
    new = await stores.record(await stores.admitted())
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        indexed = await redis.zrange(KeySpace("t").team_tasks("alpha"), 0, -1)
    finally:
        await redis.aclose()
    assert indexed == [new.record.id]
    assert old.record.id not in indexed
