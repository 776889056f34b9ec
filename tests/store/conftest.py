"""Store-level fixtures: the real stores over a real redis-server, no HTTP in between."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.clock import FakeClock, iso_timestamp
from app.domain.creates import Admitted, Decision, PendingCreate
from app.domain.tasks import StoredTask, TaskRecord
from app.domain.teams import ApiKeyRecord, Team
from app.periods import stamps_at
from app.rivya_schemas import RivyaTask
from app.store.admission import AdmissionStore
from app.store.api_keys import ApiKeyStore
from app.store.channel import open_channel
from app.store.keyspace import KeySpace
from app.store.redis import create_redis
from app.store.schedule import DueTeams
from app.store.scripts import Scripts
from app.store.settlement import SettleQueue
from app.store.spend import PeriodSpend, SpendStore
from app.store.tasks import TaskStore
from app.store.teams import TeamStore

TEST_KEY_ID = "key_test"


@dataclass
class Stores:
    teams: TeamStore
    keys: ApiKeyStore
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
        # The key every create below is made with: admission checks it is still active.
        await self.keys.add(
            ApiKeyRecord(key_id=TEST_KEY_ID, team=team_id, secret_hash="x" * 64, created_at=now)
        )
        return team

    def pending(
        self, team_id: str = "alpha", credits: int = 8, crid: str | None = None
    ) -> PendingCreate:
        self.counter += 1
        now = self.clock.now()
        return PendingCreate(
            team=team_id,
            reservation_id=f"res_{self.counter}",
            upstream_key=f"ukey_{self.counter}",
            body={"model": "flux-kontext-max", "prompt": "p", "params": {}},
            credits=credits,
            stamps=stamps_at(now),
            client_request_id=crid,
            key_id=TEST_KEY_ID,
            created_ms=int(now * 1000),
            owner=f"owner_{self.counter}",
        )

    async def admit(
        self,
        team_id: str = "alpha",
        credits: int = 8,
        crid: str | None = None,
        fingerprint: str = "fp",
    ) -> Decision:
        create = self.pending(team_id, credits, crid)
        return await self.admission.admit(create, fingerprint=fingerprint)

    async def admitted(
        self, team_id: str = "alpha", credits: int = 8, crid: str | None = None
    ) -> Admitted:
        decision = await self.admit(team_id, credits, crid)
        assert isinstance(decision, Admitted), decision
        return decision

    async def record(
        self, admitted: Admitted, team_id: str = "alpha", reserved: int | None = None
    ) -> StoredTask:
        self.counter += 1
        held = reserved or admitted.create.credits
        task = rivya_task(f"task_{self.counter}", "queued", reserved=held)
        record = TaskRecord(  # as services/forwarding.py makes it: its create's key
            team=team_id,
            upstream=task,
            client_request_id=admitted.create.client_request_id,
            key_id=admitted.create.key_id,
        )
        await self.tasks.record(record, admitted.create, first_poll_in=2.5, reserved=held)
        return StoredTask(record, admitted.stamps, admitted.create.key_id or "")

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


# Every store test runs its scripts both ways: over the lean channel (a single-node Redis, as
# in production) and through redis-py (TLS, Sentinel, Cluster).
@pytest.fixture(params=["channel", "redis-py"])
async def stores(
    redis_url: str, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[Stores]:
    redis = create_redis(redis_url)
    keys = KeySpace("t")
    channel = open_channel(redis_url, timeout=2.0) if request.param == "channel" else None
    scripts = Scripts(redis, channel=channel)
    due = DueTeams(redis, keys, scripts, clock)
    yield Stores(
        teams=TeamStore(redis, keys, scripts),
        keys=ApiKeyStore(redis, keys, scripts),
        admission=AdmissionStore(
            redis,
            keys,
            scripts,
            clock,
            due,
            claim_ttl_ms=86_400_000,
            lease_ms=60_000,
            resend_window_ms=300_000,
        ),
        tasks=TaskStore(redis, keys, scripts, clock, due, retention_seconds=3600),
        spend=SpendStore(redis, keys),
        queue=SettleQueue(redis, keys, scripts, clock, due),
        clock=clock,
    )
    if channel is not None:
        await channel.aclose()
    await redis.aclose()
