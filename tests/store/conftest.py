"""Store-level fixtures: the real stores over a real redis-server, no HTTP in between."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.clock import FakeClock, iso_timestamp
from app.domain import TaskRecord, Team
from app.periods import stamps_at
from app.store.admission import AdmissionStore, Admitted, Refused
from app.store.keys import KeySpace
from app.store.redis import create_redis
from app.store.scripts import Scripts
from app.store.settlement import SettleQueue
from app.store.spend import PeriodSpend, SpendStore
from app.store.tasks import StoredTask, TaskStore
from app.store.teams import TeamStore
from app.wire import RivyaTask


@dataclass
class Stores:
    teams: TeamStore
    admission: AdmissionStore
    tasks: TaskStore
    spend: SpendStore
    queue: SettleQueue
    clock: FakeClock
    counter: int = 0

    async def team(self, team_id: str = "alpha", **policy: Any) -> Team:
        now = iso_timestamp(self.clock.now())
        team = Team.model_validate({"id": team_id, "created_at": now, "updated_at": now, **policy})
        assert await self.teams.create(team)
        return team

    async def admit(self, team_id: str = "alpha", credits: int = 8) -> Admitted | Refused:
        self.counter += 1
        now = self.clock.now()
        return await self.admission.admit(
            team_id,
            credits=credits,
            reservation_id=f"res_{self.counter}",
            stamps=stamps_at(now),
            now_us=int(now * 1_000_000),
        )

    async def admitted(self, team_id: str = "alpha", credits: int = 8) -> Admitted:
        decision = await self.admit(team_id, credits)
        assert isinstance(decision, Admitted), decision
        return decision

    async def record(
        self, admitted: Admitted, team_id: str = "alpha", reserved: int | None = None
    ) -> StoredTask:
        self.counter += 1
        task = rivya_task(f"task_{self.counter}", "queued", reserved=reserved or admitted.credits)
        record = TaskRecord(team=team_id, upstream=task)
        now_ms = int(self.clock.now() * 1000)
        await self.tasks.record(record, admitted, created_ms=now_ms, first_poll_ms=now_ms + 2500)
        return StoredTask(record, admitted.stamps)

    async def spent(self, team_id: str = "alpha", stamp: str | None = None) -> PeriodSpend:
        return await self.spend.read(team_id, stamp or stamps_at(self.clock.now()).month)


def rivya_task(
    task_id: str, status: str, *, reserved: int = 8, final: int = 0, updated: str = "t"
) -> RivyaTask:
    return RivyaTask.model_validate(
        {
            "id": task_id,
            "status": status,
            "model": "flux-kontext-max",
            "reserved_credits": reserved,
            "final_credits": final,
            "created_at": "2026-05-11T00:00:00.000Z",
            "updated_at": updated,
        }
    )


@pytest.fixture
async def stores(redis_url: str, clock: FakeClock) -> AsyncIterator[Stores]:
    redis = create_redis(redis_url)
    keys = KeySpace("t")
    scripts = Scripts(redis)
    yield Stores(
        teams=TeamStore(redis, keys, scripts),
        admission=AdmissionStore(keys, scripts),
        tasks=TaskStore(redis, keys, scripts, retention_seconds=3600),
        spend=SpendStore(redis, keys),
        queue=SettleQueue(redis, keys, scripts),
        clock=clock,
    )
    await redis.aclose()
