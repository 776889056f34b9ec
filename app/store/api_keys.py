"""Team API keys in Redis: a hash per key (team, name, SHA-256 of the secret, revocation); its
expiry and budget in its team's slot, where the admission script reads them."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from app.clock import epoch_of
from app.domain.teams import ApiKeyRecord, KeyBudget
from app.store.contracts import admin as c
from app.store.keyspace import KeySpace
from app.store.redis import admin_write, hash_fields, store_errors, text_map
from app.store.scripts import Scripts


def _record_of(flat: Sequence[object]) -> ApiKeyRecord | None:
    """A record from a script's field, value, … reply (empty: no such key)."""
    raw = {str(field): str(value) for field, value in zip(flat[::2], flat[1::2], strict=True)}
    return ApiKeyRecord.model_validate(raw) if raw else None


class ApiKeyStore:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def add(self, record: ApiKeyRecord, budget: KeyBudget | None = None) -> None:
        stored = record.model_dump(exclude={"last_used_at"})  # kept apart: note_used
        fields = {k: v for k, v in stored.items() if v is not None}
        tenant = record.tenant
        # One after another, not in a transaction: the key's record is not under its team's
        # hash tag, so on Redis Cluster the three live in different slots. In this order a key
        # is usable for paid creates only once all is written (admission reads the active set);
        # a failure half-way leaves a record whose secret was never handed out.
        with store_errors():
            await self._redis.hset(self._keys.api_key(record.key_id), mapping=hash_fields(fields))
            await self._redis.sadd(self._keys.team_keys(tenant), record.key_id)
            if record.expires_at is not None:  # before it is active: never active without it
                expires_ms = int(epoch_of(record.expires_at) * 1000)
                await self._redis.hset(self._keys.key_expiry(tenant), record.key_id, expires_ms)
            if budget is not None:  # likewise
                budgets = self._keys.key_budgets(tenant)
                await self._redis.hset(budgets, record.key_id, budget.encode())
            await self._redis.sadd(self._keys.active_keys(tenant), record.key_id)

    async def note_used(self, last_used: dict[str, str]) -> None:
        """When keys were last used (key id -> timestamp), from one process's requests: in a
        hash of their own, not the keys' records, so a key deleted meanwhile gets no stub."""
        with store_errors():
            await self._redis.hset(self._keys.keys_last_used(), mapping=hash_fields(last_used))

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        with store_errors():
            raw = text_map(await self._redis.hgetall(self._keys.api_key(key_id)))
        return ApiKeyRecord.model_validate(raw) if raw else None

    async def list_for_team(self, tenant: str) -> list[ApiKeyRecord]:
        """The team's keys, each with when it was last used."""
        with store_errors():
            ids = sorted(str(i) for i in await self._redis.smembers(self._keys.team_keys(tenant)))
            async with self._redis.pipeline(transaction=False) as pipe:
                for key_id in ids:
                    pipe.hgetall(self._keys.api_key(key_id))
                pipe.hmget(self._keys.keys_last_used(), ids or ["-"])
                *raw, used = await pipe.execute()
        records = [
            ApiKeyRecord.model_validate({**text_map(row), "last_used_at": at})
            for row, at in zip(raw, used, strict=False)
            if row
        ]
        return sorted(records, key=lambda r: r.created_at)

    async def set_budget(self, record: ApiKeyRecord, budget: KeyBudget | None) -> None:
        """Give the key a budget of its own, change it, or take it away (None): from the moment
        this returns, every admission on every replica checks it."""
        async with admin_write("The key's budget"):
            await self._scripts.put_key_budget(
                keys=c.OneKey(self._keys.key_budgets(record.tenant)),
                args=c.PutKeyBudgetArgs(record.key_id, budget.encode() if budget else ""),
            )

    async def revoke(self, key_id: str, when: str) -> ApiKeyRecord | None:
        """Mark a key revoked (kept, so its use answers ``api_key_revoked``); None if unknown.

        Marked revoked, then out of the active set: once this returns no admission accepts the
        key, on any replica, whatever their caches hold. (In this order, a concurrent backfill
        cannot put it back: see ``backfill_active``.) Two scripts, since on Redis Cluster the
        record is not in its team's slot; each counts only once a replica holds it (when writes
        wait for one), so a failover cannot bring a revoked key back. If either's outcome is
        unknown the admin is told to retry, which finishes the job."""
        async with admin_write("The key's revocation"):
            record = _record_of(
                await self._scripts.revoke_key(
                    keys=c.OneKey(self._keys.api_key(key_id)), args=c.OneArg(when)
                )
            )
            if record is None:
                return None
            await self._deactivate(record.tenant, key_id)
        return record

    async def _deactivate(self, tenant: str, key_id: str) -> None:
        await self._scripts.deactivate_key(
            keys=c.OneKey(self._keys.active_keys(tenant)), args=c.OneArg(key_id)
        )

    async def backfill_active(self, tenant: str) -> int:
        """Put the team's unrevoked keys in its active set (keys issued before there was one).
        Added first, then checked: a key revoked meanwhile is marked before it is removed, so
        either this sees the mark and takes it out again, or the revoke's removal comes after
        this addition. Returns how many keys are active."""
        with store_errors():
            ids = [str(i) for i in await self._redis.smembers(self._keys.team_keys(tenant))]
            active = 0
            for key_id in ids:
                await self._redis.sadd(self._keys.active_keys(tenant), key_id)
                if await self._redis.hget(self._keys.api_key(key_id), "revoked_at"):
                    await self._deactivate(tenant, key_id)  # waited for, as a revoke's is
                else:
                    active += 1
        return active
