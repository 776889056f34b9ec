"""Reading spend: a period's spent and reserved credits, task counts, and tasks in flight."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from app.store.keys import KeySpace
from app.store.redis import store_errors, text_map


@dataclass(frozen=True)
class PeriodSpend:
    spent: int
    reserved: int
    tasks_created: int
    tasks_succeeded: int
    tasks_failed: int
    in_flight: int

    @property
    def tasks_pending(self) -> int:
        return max(self.tasks_created - self.tasks_succeeded - self.tasks_failed, 0)


class SpendStore:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis, self._keys = redis, keys

    async def read(self, team_id: str, stamp: str) -> PeriodSpend:
        """One period's figures and the team's tasks in flight, in one round trip."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.spend(team_id, stamp))
            pipe.hlen(self._keys.reservations(team_id))
            raw, in_flight = await pipe.execute()
        fields = text_map(raw)

        def number(name: str) -> int:
            return int(fields.get(name, 0))

        return PeriodSpend(
            spent=number("spent"),
            reserved=number("reserved"),
            tasks_created=number("tasks_created"),
            tasks_succeeded=number("tasks_succeeded"),
            tasks_failed=number("tasks_failed"),
            in_flight=int(in_flight),
        )
