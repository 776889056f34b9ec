"""A team's webhooks, their stopped state and their delivery logs, in the team's slot.

A webhook is one JSON value in the team's webhooks hash (the scripts that end tasks read it:
``lua/_events.lua``). Whether it is stopped is a hash of its own, so the deliveries stop one
with one write that cannot undo a team's edit made meanwhile, and the other way round."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum

from redis.asyncio import Redis

from app.domain.webhooks import DeliveryRecord, Webhook
from app.store.contracts import admin as c
from app.store.keyspace import KeySpace
from app.store.redis import store_errors
from app.store.scripts import Scripts

LOG_ENTRIES = 100  # attempts kept per webhook
LOG_TTL_SECONDS = 30 * 86_400  # a webhook idle that long has no log left


class Put(Enum):
    WRITTEN = 1
    MISSING = 0  # replacing one that is gone
    FULL = -1  # adding past the team's limit
    CHANGED = 2  # replacing one changed since it was read


class WebhookStore:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def of_team(self, tenant: str) -> list[Webhook]:
        k = self._keys
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hvals(k.webhooks(tenant))
            pipe.hgetall(k.webhooks_disabled(tenant))
            raw, disabled = await pipe.execute()
        stopped = {str(i): str(why) for i, why in disabled.items()}
        hooks = [Webhook.from_json(str(v)) for v in raw]
        hooks = [replace(h, disabled_reason=stopped.get(h.id)) for h in hooks]
        return sorted(hooks, key=lambda h: (h.created_ms, h.id))

    async def get(self, tenant: str, webhook_id: str) -> Webhook | None:
        k = self._keys
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(k.webhooks(tenant), webhook_id)
            pipe.hget(k.webhooks_disabled(tenant), webhook_id)
            raw, why = await pipe.execute()
        if raw is None:
            return None
        return Webhook.from_json(str(raw), None if why is None else str(why))

    async def put(
        self, tenant: str, webhook: Webhook, *, most: int, read: Webhook | None = None
    ) -> Put:
        """Add ``webhook`` (``read`` None), or replace ``read`` by it if unchanged since."""
        args = c.PutWebhookArgs(
            webhook.id,
            webhook.to_json(),
            most,
            0 if read is None else 1,
            0 if read is None else read.updated_ms,
        )
        with store_errors():
            outcome = await self._scripts.put_webhook(
                keys=c.OneKey(self._keys.webhooks(tenant)), args=args
            )
        return Put(int(outcome))

    async def delete(self, tenant: str, webhook_id: str) -> bool:
        k = self._keys
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hdel(k.webhooks(tenant), webhook_id)
            pipe.hdel(k.webhooks_disabled(tenant), webhook_id)
            pipe.delete(k.webhook_deliveries(tenant, webhook_id))
            deleted, *_ = await pipe.execute()
        return bool(deleted)

    async def stop(self, tenant: str, webhook_id: str, reason: str) -> None:
        with store_errors():
            if await self._redis.hexists(self._keys.webhooks(tenant), webhook_id):
                await self._redis.hset(self._keys.webhooks_disabled(tenant), webhook_id, reason)

    async def restart(self, tenant: str, webhook_id: str) -> None:
        with store_errors():
            await self._redis.hdel(self._keys.webhooks_disabled(tenant), webhook_id)

    async def log(self, tenant: str, webhook_id: str, record: DeliveryRecord) -> None:
        key = self._keys.webhook_deliveries(tenant, webhook_id)
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.lpush(key, record.to_json())
            pipe.ltrim(key, 0, LOG_ENTRIES - 1)
            pipe.expire(key, LOG_TTL_SECONDS)
            await pipe.execute()

    async def deliveries(self, tenant: str, webhook_id: str, limit: int) -> list[DeliveryRecord]:
        key = self._keys.webhook_deliveries(tenant, webhook_id)
        with store_errors():
            raw = await self._redis.lrange(key, 0, limit - 1)
        return [DeliveryRecord.from_json(str(r)) for r in raw]
