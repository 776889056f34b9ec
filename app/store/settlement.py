"""The settle queues: which tasks still need polling, and when, shared by every replica."""

from __future__ import annotations

from redis.asyncio import Redis

from app.store.keys import KeySpace
from app.store.redis import store_errors
from app.store.scripts import Scripts


class SettleQueue:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def teams(self) -> list[str]:
        async with store_errors():
            members = await self._redis.smembers(self._keys.settle_teams())
        return sorted(str(m) for m in members)

    async def claim(self, team_id: str, *, now_ms: int, lease_ms: int, limit: int) -> list[str]:
        """Lease up to ``limit`` due tasks of a team; nobody else polls them until the lease ends
        or they are rescheduled."""
        async with store_errors():
            due = await self._scripts.claim_due(
                keys=[self._keys.settle_due(team_id)], args=[now_ms, lease_ms, limit]
            )
        return [str(task_id) for task_id in due]

    async def reschedule(self, team_id: str, task_id: str, *, at_ms: int) -> None:
        """Set the next poll; XX: a task settled meanwhile (and so dequeued) stays dequeued."""
        async with store_errors():
            await self._redis.zadd(self._keys.settle_due(team_id), {task_id: at_ms}, xx=True)

    async def drop(self, team_id: str, task_id: str) -> None:
        async with store_errors():
            await self._redis.zrem(self._keys.settle_due(team_id), task_id)

    async def pending(self, team_id: str) -> int:
        async with store_errors():
            return int(await self._redis.zcard(self._keys.settle_due(team_id)))
