"""Every way a task ends here writes its event for the team's webhooks, in the same script that
settles it (``lua/_events.lua``): observed ended, found ended by a resend after its record was
lost, and settled as an orphan at Rivya's word. And the resend's path settles the hold it kept
(it once wrote the task ended with its credits still reserved and its slot held for good)."""

from __future__ import annotations

import json

from redis import Redis as SyncRedis

from app.domain.tasks import TaskRecord
from app.domain.webhooks import Webhook
from app.store.keyspace import KeySpace
from tests.store.conftest import Stores, rivya_task

KEYS = KeySpace("t")


def with_webhook(redis_url: str, tenant: str = "alpha") -> None:
    hook = Webhook("wh_1", "ops", "https://h.example/", ("generation.succeeded",), "whsec_x", 0, 0)
    with SyncRedis.from_url(redis_url) as redis:
        redis.hset(KEYS.webhooks(tenant), "wh_1", hook.to_json())


def events(redis_url: str, tenant: str = "alpha") -> list[dict[str, str]]:
    with SyncRedis.from_url(redis_url, decode_responses=True) as redis:
        rows = redis.xrange(KEYS.outbox(tenant))
        due = redis.zrange(KEYS.outbox_due(tenant), 0, -1)
    assert [entry_id for entry_id, _ in rows] == due  # each due for delivery
    return [fields for _, fields in rows]


def forget_record(redis_url: str, task_id: str) -> None:
    with SyncRedis.from_url(redis_url) as redis:
        redis.delete(KEYS.task("alpha", task_id))  # evicted, or lost with Redis's data


async def test_a_task_observed_ended_has_its_event(stores: Stores, redis_url: str) -> None:
    await stores.team(budget_period="total")
    with_webhook(redis_url)
    stored = await stores.record(await stores.admitted())
    await stores.tasks.observe(stored, rivya_task(stored.record.id, "succeeded", final=8))
    [event] = events(redis_url)
    assert (event["webhook"], event["type"], event["task"]) == (
        "wh_1",
        "generation.succeeded",
        stored.record.id,
    )
    spend = await stores.spent(stamp="total")
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)


async def test_a_task_found_ended_by_a_resend_is_settled_and_has_its_event(
    stores: Stores, redis_url: str
) -> None:
    await stores.team(budget_period="total", rate_limit_per_minute=100)
    with_webhook(redis_url)
    stored = await stores.record(await stores.admitted())
    task_id = stored.record.id
    forget_record(redis_url, task_id)
    again = await stores.admitted()  # a resend of the same create finds the same task, ended
    ended = TaskRecord(team="alpha", upstream=rivya_task(task_id, "succeeded", final=8))
    await stores.tasks.record(ended, again.create, first_poll_in=2.5, reserved=8)
    # Its hold is kept, the task polled now; the poll settles it, as any task's end.
    assert await stores.queue.claim("alpha", lease_seconds=30, limit=10) == [task_id]
    restored = await stores.tasks.get("alpha", task_id)
    assert restored is not None
    await stores.tasks.observe(restored, rivya_task(task_id, "succeeded", final=8))
    spend = await stores.spent(stamp="total")
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
    assert [e["task"] for e in events(redis_url)] == [task_id]


async def test_an_orphan_settled_at_rivyas_word_has_its_event(
    stores: Stores, redis_url: str
) -> None:
    await stores.team(budget_period="total")
    with_webhook(redis_url)
    stored = await stores.record(await stores.admitted())
    task_id = stored.record.id
    forget_record(redis_url, task_id)
    entry = await stores.tasks.reservation("alpha", task_id)
    assert entry is not None
    charged = await stores.tasks.settle_orphan(
        "alpha", task_id, entry, charge=8, status="succeeded"
    )
    assert charged == 8
    assert [(e["type"], e["task"]) for e in events(redis_url)] == [
        ("generation.succeeded", task_id)
    ]
    # Rivya could not say: charged what it held, and no end is told.
    stored = await stores.record(await stores.admitted())
    forget_record(redis_url, stored.record.id)
    entry = await stores.tasks.reservation("alpha", stored.record.id)
    assert entry is not None
    assert await stores.tasks.settle_orphan("alpha", stored.record.id, entry, charge=None) == 8
    assert len(events(redis_url)) == 1
    spend = await stores.spent(stamp="total")
    assert (spend.spent, spend.reserved, spend.in_flight) == (16, 0, 0)


def test_webhooks_json_is_what_the_scripts_read() -> None:
    hook = Webhook("wh_1", "ops", "https://h.example/", ("generation.failed",), "whsec_x", 1, 2)
    assert json.loads(hook.to_json())["event_types"] == ["generation.failed"]
    assert Webhook.from_json(hook.to_json()) == hook
