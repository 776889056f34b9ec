"""The ledger and per-model figures at the scripts: every move is in the ledger, its sums are the
books, and reservations written by the version before models were recorded still settle under
the right model."""

from __future__ import annotations

from redis import Redis as SyncRedis

from app.domain.tasks import TaskRecord
from app.store.keyspace import KeySpace
from app.store.ledger import LedgerStore
from app.store.redis import create_redis
from tests.store.conftest import Stores, rivya_task


async def test_a_task_in_flight_across_the_upgrade_settles_under_its_model(
    stores: Stores, redis_url: str
) -> None:
    await stores.team(budget_credits=100)
    stored = await stores.record(await stores.admitted())
    task_id = stored.record.id
    keys, sync = KeySpace("t"), SyncRedis.from_url(redis_url, decode_responses=True)
    try:
        # As the previous version left it: an entry without the model, a task hash without it.
        entry = sync.hget(keys.reservations("alpha"), task_id)
        assert isinstance(entry, str)
        assert entry.split("|")[5] == "flux-kontext-max"
        sync.hset(keys.reservations("alpha"), task_id, "|".join(entry.split("|")[:5]))
        sync.hdel(keys.task("alpha", task_id), "model")
        await stores.tasks.observe(stored, rivya_task(task_id, "succeeded", final=8))
        total = sync.hgetall(keys.spend("alpha", "total"))
    finally:
        sync.close()
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
    assert spend.by_model == {"flux-kontext-max": 8}
    assert total["sum:settled:flux-kontext-max"] == "8"
    assert total["sum:reserved:flux-kontext-max"] == "8"
    assert "sum:released:flux-kontext-max" not in total
    redis = create_redis(redis_url)
    try:
        entries = await LedgerStore(redis, keys).page("alpha", limit=10)
    finally:
        await redis.aclose()
    assert [(e.event, e.model, e.reserved, e.spent) for e in entries] == [
        ("settle", "flux-kontext-max", -8, 8),
        ("reserve", "flux-kontext-max", 8, 0),
    ]


async def test_a_task_recorded_ended_without_a_reservation_keeps_the_sums_whole(
    stores: Stores, redis_url: str
) -> None:
    await stores.team(budget_credits=100)
    admitted = await stores.admitted()
    await stores.admission.cancel(admitted.create)  # the admission lost with Redis's data
    ended = rivya_task("task_ended", "succeeded", final=8)
    record = TaskRecord(team="alpha", upstream=ended)
    await stores.tasks.record(record, admitted.create, first_poll_in=2, reserved=8)
    spend = await stores.spent()
    assert (spend.spent, spend.reserved) == (8, 0)
    sync = SyncRedis.from_url(redis_url, decode_responses=True)
    try:
        total = sync.hgetall(KeySpace("t").spend("alpha", "total"))
    finally:
        sync.close()
    brought = int(total["sum:reserved:flux-kontext-max"])
    released = int(total.get("sum:released:flux-kontext-max", 0))
    assert brought - released == spend.spent + spend.reserved  # whatever the path
    assert total["events:unreserved"] == "1"
