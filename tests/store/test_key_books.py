"""A key's books move with its team's in every money script (issue 24.6), and a hold made before
keys had books (its reservation entry names no key) settles without them: an upgrade never
leaves a key's books holding, or owing, what they never held."""

from __future__ import annotations

from redis.asyncio import Redis

from app.domain.tasks import Observed
from app.periods import stamps_at
from app.store.keyspace import KeySpace
from tests.store.conftest import TEST_KEY_ID, Stores, rivya_task

KEYS = KeySpace("t")  # the stores fixture's prefix


async def key_total(redis_url: str, stamp: str = "total") -> dict[str, str]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        found = await redis.hgetall(KEYS.key_spend("alpha", TEST_KEY_ID, stamp))
        return {str(field): str(value) for field, value in found.items()}
    finally:
        await redis.aclose()


async def test_every_settlement_moves_the_keys_books_with_the_teams(
    stores: Stores, redis_url: str
) -> None:
    await stores.team("alpha")
    # Released (Rivya refused the create), abandoned (never resolved: charged), settled.
    released = await stores.admitted()
    assert await stores.admission.release(released.create, remember=None) == 8
    abandoned = await stores.admitted()
    assert await stores.admission.abandon(abandoned.create, {"code": "x"}) == 8
    settled = await stores.record(await stores.admitted())
    assert (
        await stores.tasks.observe(settled, rivya_task(settled.record.id, "succeeded", final=6))
        is Observed.SETTLED
    )
    team = await stores.spend.read("alpha", "total")
    key = await key_total(redis_url)
    assert (int(key["spent"]), int(key["reserved"])) == (team.spent, team.reserved) == (14, 0)
    month = await key_total(redis_url, stamps_at(stores.clock.now()).month)
    assert (int(month["spent"]), int(month["reserved"])) == (14, 0)


async def test_a_hold_made_before_keys_had_books_settles_without_them(
    stores: Stores, redis_url: str
) -> None:
    await stores.team("alpha")
    stored = await stores.record(await stores.admitted())
    # As the previous version left it: an entry of eight fields, no key books, no books_key.
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        reservations = KEYS.reservations("alpha")
        entry = str(await redis.hget(reservations, stored.record.id))
        assert entry.endswith(f"|{TEST_KEY_ID}")
        await redis.hset(reservations, stored.record.id, entry.rsplit("|", 1)[0])
        await redis.hdel(KEYS.task("alpha", stored.record.id), "books_key")
        for stamp in stored.stamps.all():
            await redis.delete(KEYS.key_spend("alpha", TEST_KEY_ID, stamp))
    finally:
        await redis.aclose()
    done = rivya_task(stored.record.id, "succeeded", final=8)
    assert await stores.tasks.observe(stored, done) is Observed.SETTLED
    assert await key_total(redis_url) == {}  # untouched: never held, never owed
    team = await stores.spend.read("alpha", "total")
    assert (team.spent, team.reserved, team.in_flight) == (8, 0, 0)


async def key_figures(redis_url: str) -> tuple[int, int]:
    books = await key_total(redis_url)
    return int(books.get("spent", 0)), int(books.get("reserved", 0))


async def test_an_abandoned_hold_whose_task_turns_up_moves_back_in_its_keys_books(
    stores: Stores, redis_url: str
) -> None:
    await stores.team("alpha")
    admitted = await stores.admitted()
    assert await stores.admission.abandon(admitted.create, {"code": "x"}) == 8
    assert await key_figures(redis_url) == (8, 0)  # charged to the key as to the team
    stored = await stores.record(admitted)  # its task turns up after all: held again
    assert await key_figures(redis_url) == (0, 8)
    await stores.tasks.observe(stored, rivya_task(stored.record.id, "succeeded", final=6))
    team = await stores.spend.read("alpha", "total")
    assert (team.spent, team.reserved) == await key_figures(redis_url) == (6, 0)


async def test_an_old_abandoned_hold_whose_task_turns_up_leaves_the_keys_books_alone(
    stores: Stores, redis_url: str
) -> None:
    # Found in review: a hold made before keys had books, abandoned, then its task found, once
    # took the key's books below zero (the reclaim moved books the abandon never had).
    await stores.team("alpha")
    admitted = await stores.admitted()
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        reservations = KEYS.reservations("alpha")
        entry = str(await redis.hget(reservations, admitted.create.reservation_id))
        await redis.hset(reservations, admitted.create.reservation_id, entry.rsplit("|", 1)[0])
        for stamp in admitted.stamps.all():
            await redis.delete(KEYS.key_spend("alpha", TEST_KEY_ID, stamp))
    finally:
        await redis.aclose()
    assert await stores.admission.abandon(admitted.create, {"code": "x"}) == 8
    stored = await stores.record(admitted)
    await stores.tasks.observe(stored, rivya_task(stored.record.id, "succeeded", final=6))
    team = await stores.spend.read("alpha", "total")
    assert (team.spent, team.reserved) == (6, 0)
    assert await key_figures(redis_url) == (0, 0)  # never held by the key, never charged to it
