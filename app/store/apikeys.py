"""Team API keys in Redis: a hash per key (team, name, SHA-256 of the secret, revocation)."""

from __future__ import annotations

from redis.asyncio import Redis

from app.domain import ApiKeyRecord
from app.store.keys import KeySpace
from app.store.redis import hash_fields, store_errors, text_map


class ApiKeyStore:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis, self._keys = redis, keys

    async def add(self, record: ApiKeyRecord) -> None:
        fields = {k: v for k, v in record.model_dump().items() if v is not None}
        space = record.team_space
        # One after another, not in a transaction: the key's record is not under its team's
        # hash tag, so on Redis Cluster the three live in different slots. In this order a key
        # is usable for paid creates only once all is written (admission reads the active set);
        # a failure half-way leaves a record whose secret was never handed out.
        async with store_errors():
            await self._redis.hset(self._keys.api_key(record.key_id), mapping=hash_fields(fields))
            await self._redis.sadd(self._keys.team_keys(space), record.key_id)
            await self._redis.sadd(self._keys.active_keys(space), record.key_id)

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        async with store_errors():
            raw = text_map(await self._redis.hgetall(self._keys.api_key(key_id)))
        return ApiKeyRecord.model_validate(raw) if raw else None

    async def list_for_team(self, space: str) -> list[ApiKeyRecord]:
        async with store_errors():
            ids = sorted(str(i) for i in await self._redis.smembers(self._keys.team_keys(space)))
            async with self._redis.pipeline(transaction=False) as pipe:
                for key_id in ids:
                    pipe.hgetall(self._keys.api_key(key_id))
                rows = [text_map(row) for row in await pipe.execute()]
        records = [ApiKeyRecord.model_validate(row) for row in rows if row]
        return sorted(records, key=lambda r: r.created_at)

    async def revoke(self, key_id: str, when: str) -> ApiKeyRecord | None:
        """Mark a key revoked (kept, so its use answers ``api_key_revoked``); None if unknown."""
        record = await self.get(key_id)
        if record is None:
            return None
        async with store_errors():
            # Marked revoked, then out of the active set: once this returns no admission
            # accepts the key, on any replica, whatever their caches hold. (In this order, a
            # concurrent backfill cannot put it back: see ``backfill_active``.)
            if record.revoked_at is None:
                await self._redis.hsetnx(self._keys.api_key(key_id), "revoked_at", when)
            await self._redis.srem(self._keys.active_keys(record.team_space), key_id)
        return await self.get(key_id)

    async def backfill_active(self, space: str) -> int:
        """Put the team's unrevoked keys in its active set (keys issued before there was one).
        Added first, then checked: a key revoked meanwhile is marked before it is removed, so
        either this sees the mark and takes it out again, or the revoke's removal comes after
        this addition. Returns how many keys are active."""
        async with store_errors():
            ids = [str(i) for i in await self._redis.smembers(self._keys.team_keys(space))]
            active = 0
            for key_id in ids:
                await self._redis.sadd(self._keys.active_keys(space), key_id)
                if await self._redis.hget(self._keys.api_key(key_id), "revoked_at"):
                    await self._redis.srem(self._keys.active_keys(space), key_id)
                else:
                    active += 1
        return active
