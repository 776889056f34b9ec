"""Custody of results in Redis: which files of a task are copied (its task hash's ``kept:<i>``
and ``custody``), the team's kept copies and what they take, and their deletion when due."""

from __future__ import annotations

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.domain.results import Custody, KeptFile
from app.store.contracts import schedule as c
from app.store.keyspace import KeySpace
from app.store.redis import store_errors
from app.store.schedule import DueTeams
from app.store.scripts import Scripts

EXPIRED_PER_PASS = 500  # copies deleted per team per settler pass (the rest come next pass)


class ResultStore:
    def __init__(
        self, redis: Redis, keys: KeySpace, scripts: Scripts, clock: Clock, due: DueTeams
    ) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts
        self._clock, self._due = clock, due

    async def keep(
        self, tenant: str, task_id: str, index: int, kept: KeptFile, *, files: int, until_ms: int
    ) -> Custody | None:
        """Note a file's copy (written to the store first): the task's custody as it now
        stands, None if the task's record is gone (the copy is still counted, and deleted
        when due)."""
        k = self._keys
        with self._due.scheduling(tenant), store_errors():
            custody, index_at = await self._scripts.keep_result(
                keys=c.KeepResultKeys(
                    task=k.task(tenant, task_id),
                    kept=k.results_kept(tenant),
                    usage=k.results_usage(tenant),
                    settle_queue=k.settle_due(tenant),
                    schedule_marker=k.scheduled(tenant),
                ),
                args=c.KeepResultArgs(
                    task_id=task_id,
                    file_index=index,
                    kept=kept.encode(),
                    files=files,
                    until_ms=until_ms,
                    time=script_time(self._clock),
                ),
            )
        await self._due.index_at(tenant, int(index_at))
        return None if str(custody) == "gone" else Custody(str(custody))

    async def fail(self, tenant: str, task_id: str, reason: str) -> None:
        """Stop copying a task's results: its custody says so, and why."""
        async with store_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._keys.task(tenant, task_id),
                mapping={"custody": Custody.FAILED.value, "custody_error": reason},
            )
            pipe.zrem(self._keys.settle_due(tenant), task_id)
            await pipe.execute()

    async def take_expired(self, tenant: str) -> list[str]:
        """The team's copies whose time has come, taken off its books: their SHA-256s, for the
        caller to delete from the store."""
        with store_errors():
            taken = await self._scripts.expire_results(
                keys=c.ExpireResultsKeys(
                    kept=self._keys.results_kept(tenant), usage=self._keys.results_usage(tenant)
                ),
                args=c.ExpireResultsArgs(time=script_time(self._clock), most=EXPIRED_PER_PASS),
            )
        return [str(sha) for sha in taken]

    async def expire_all(self, tenant: str) -> None:
        """Every copy of a deleted team is due now: its next settler pass deletes them."""
        kept = self._keys.results_kept(tenant)
        with self._due.scheduling(tenant), store_errors():
            members = await self._redis.zrange(kept, 0, -1)
            if members:
                await self._redis.zadd(kept, {str(member): 0 for member in members})
        await self._due.index_at(tenant, int(self._clock.now() * 1000))

    async def usage(self, tenants: list[str]) -> list[tuple[int, int]]:
        """Each team's (bytes, objects) in the store, in one round trip."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.hmget(self._keys.results_usage(tenant), ["bytes", "objects"])
            rows = await pipe.execute()
        return [(int(b or 0), int(o or 0)) for b, o in rows]
