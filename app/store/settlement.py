"""The settle queues: which tasks still need polling, and when, shared by every replica."""

from __future__ import annotations

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.store.contracts import schedule as c
from app.store.keyspace import KeySpace
from app.store.redis import store_errors
from app.store.schedule import DueTeams
from app.store.scripts import Scripts


class SettleQueue:
    def __init__(
        self, redis: Redis, keys: KeySpace, scripts: Scripts, clock: Clock, due: DueTeams
    ) -> None:
        self._redis, self._keys, self._scripts, self._clock = redis, keys, scripts, clock
        self._due = due

    async def teams(self) -> list[str]:
        with store_errors():
            members = await self._redis.smembers(self._keys.settle_teams())
        return sorted(str(m) for m in members)

    async def claim(self, team_id: str, *, lease_seconds: float, limit: int) -> list[str]:
        """Lease up to ``limit`` due tasks of a team; nobody else polls them until the lease ends
        or they are rescheduled."""
        with store_errors():
            due = await self._scripts.claim_due(
                keys=c.QueueKeys(settle_queue=self._keys.settle_due(team_id)),
                args=c.ClaimDueArgs(
                    time=script_time(self._clock), lease_ms=int(lease_seconds * 1000), limit=limit
                ),
            )
        return [str(task_id) for task_id in due]

    async def claim_one(self, team_id: str, task_id: str, *, lease_seconds: float) -> bool:
        """Take one task's poll if it is due (``claim_poll.lua``): True means poll it now."""
        with store_errors():
            claimed = await self._scripts.claim_poll(
                keys=c.QueueKeys(settle_queue=self._keys.settle_due(team_id)),
                args=c.ClaimPollArgs(
                    task_id=task_id,
                    time=script_time(self._clock),
                    lease_ms=int(lease_seconds * 1000),
                ),
            )
        return bool(claimed)

    async def reschedule(self, team_id: str, task_id: str, *, in_seconds: float) -> None:
        """Poll the task next ``in_seconds`` from now (by Redis's clock); a task settled
        meanwhile (and so dequeued) stays dequeued."""
        with self._due.scheduling(team_id), store_errors():
            index_at = await self._scripts.reschedule(
                keys=c.RescheduleKeys(
                    settle_queue=self._keys.settle_due(team_id),
                    schedule_marker=self._keys.scheduled(team_id),
                ),
                args=c.RescheduleArgs(
                    task_id=task_id, time=script_time(self._clock), delay_ms=int(in_seconds * 1000)
                ),
            )
        await self._due.index_at(team_id, int(index_at))

    async def poll_now(self, team_id: str, task_id: str, *, min_interval_seconds: float) -> int:
        """A hint that the task changed: due now (``hint_poll.lua``'s outcome: 1 due now, 0
        hinted too recently, -1 ended or not followed, -2 no such task)."""
        with self._due.scheduling(team_id), store_errors():
            outcome, index_at = await self._scripts.hint_poll(
                keys=c.HintPollKeys(
                    task=self._keys.task(team_id, task_id),
                    settle_queue=self._keys.settle_due(team_id),
                    schedule_marker=self._keys.scheduled(team_id),
                ),
                args=c.HintPollArgs(
                    task_id=task_id,
                    time=script_time(self._clock),
                    min_interval_ms=int(min_interval_seconds * 1000),
                ),
            )
        await self._due.index_at(team_id, int(index_at))
        return int(outcome)

    async def owner(self, task_id: str, tenants: list[str]) -> str | None:
        """Which of these teams holds the task (one round trip, whatever their number)."""
        if not tenants:
            return None
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.exists(self._keys.task(tenant, task_id))
            found = await pipe.execute()
        return next((t for t, hit in zip(tenants, found, strict=True) if hit), None)

    async def drop(self, team_id: str, task_id: str) -> None:
        with store_errors():
            await self._redis.zrem(self._keys.settle_due(team_id), task_id)

    async def pending(self, team_id: str) -> int:
        with store_errors():
            return int(await self._redis.zcard(self._keys.settle_due(team_id)))
