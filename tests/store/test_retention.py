"""Every per-team structure has a retention: the task index forgets what the tasks forgot."""

from __future__ import annotations

from redis.asyncio import Redis

from app.store.admission import SPEND_RETENTION_SECONDS
from app.store.keyspace import KeySpace, key_spend_keys, spend_keys
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


async def test_a_period_s_books_expire_after_their_retention_and_the_total_s_never(
    stores: Stores, redis_url: str
) -> None:
    """A day's, a week's and a month's spend hashes (the team's and its key's) are kept for
    reports long after their period; the totals stay."""
    await stores.team(rate_limit_per_minute=1000)
    first = await stores.admitted()
    second = await stores.admitted()  # the same periods again: their lifetime set by the first
    keys = KeySpace("t")
    day, week, month, total = spend_keys(keys, "alpha", first.stamps)
    key_day, key_week, key_month, key_total = key_spend_keys(
        keys, "alpha", first.create.key_id or "", first.stamps
    )
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        lifetimes = [await redis.ttl(k) for k in (day, week, month, key_day, key_week, key_month)]
        totals = [await redis.ttl(k) for k in (total, key_total)]
    finally:
        await redis.aclose()
    # Redis's clock, not the test's, runs the expiry: set a moment ago.
    assert all(SPEND_RETENTION_SECONDS - 60 < left <= SPEND_RETENTION_SECONDS for left in lifetimes)
    assert totals == [-1, -1]
    # Rivya refused both: released, the books close with nothing charged, held or in flight.
    for admitted in (first, second):
        await stores.admission.release(admitted.create, remember=None)
    books = await stores.spent()
    assert (books.spent, books.reserved, books.in_flight) == (0, 0, 0)
