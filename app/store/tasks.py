"""Tasks the gateway created, in Redis: Rivya's latest answer, the owning team, the reservation.

A task's key embeds its team, so reading another team's task simply finds nothing: ownership
costs no extra lookup, and "not yours" is indistinguishable from "does not exist".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.creates import PendingCreate
from app.domain import TaskRecord
from app.periods import PeriodStamps
from app.store.admission import spend_keys
from app.store.keys import KeySpace
from app.store.redis import store_errors, text_map
from app.store.scripts import Scripts
from app.wire import RivyaTask


class Observed(IntEnum):
    """What recording a fresh upstream view of a task did (``observe.lua``'s answer)."""

    MISSING = -1
    UNCHANGED = 0
    PROGRESSED = 1
    SETTLED = 2


@dataclass(frozen=True)
class Recorded:
    """What recording a new task did."""

    new: bool  # False: it was recorded already
    settled: bool  # Rivya reported it ended: settled then and there
    # It had no live reservation (a second task for one create, an admission lost with Redis's
    # data): charged as new spend, and worth an operator's look.
    unreserved: bool


@dataclass(frozen=True)
class StoredTask:
    record: TaskRecord
    stamps: PeriodStamps


class TaskStore:
    def __init__(
        self,
        redis: Redis,
        keys: KeySpace,
        scripts: Scripts,
        clock: Clock,
        *,
        retention_seconds: int,
    ) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts
        self._clock, self._retention = clock, retention_seconds

    async def record(
        self,
        record: TaskRecord,
        create: PendingCreate,
        *,
        first_poll_in: float,
        reserved: int,
    ) -> Recorded:
        """Store a new task, attach its reservation (``reserved`` credits), close its pending
        create and complete its idempotency claim; settle it at once if Rivya reports it ended
        (one round trip). Its first poll is due ``first_poll_in`` seconds from now."""
        k, team, task = self._keys, record.team, record.upstream
        async with store_errors():
            outcome = await self._scripts.record(
                keys=[
                    k.task(team, task.id),
                    k.reservations(team),
                    k.team_tasks(team),
                    *spend_keys(k, team, create.stamps),
                    k.settle_due(team),
                    k.idempotency(team, record.client_request_id or ""),
                    k.pending_creates(team),
                    k.abandoned(team, create.reservation_id),
                ],
                args=[
                    create.reservation_id,
                    task.id,
                    task.status,
                    task.model_dump_json(),
                    reserved,
                    record.client_request_id or "",
                    record.key_id or "",
                    script_time(self._clock),
                    self._retention,
                    create.stamps.encode(),
                    int(first_poll_in * 1000),
                    task.final_credits,
                ],
            )
        code, anomaly = (int(v) for v in outcome)
        return Recorded(new=code >= 0, settled=code == 2, unreserved=anomaly == 1)

    async def get(self, team_id: str, task_id: str) -> StoredTask | None:
        async with store_errors():
            raw = text_map(await self._redis.hgetall(self._keys.task(team_id, task_id)))
        if not raw:
            return None
        record = TaskRecord(
            team=team_id,
            upstream=RivyaTask.model_validate_json(raw["upstream"]),
            client_request_id=raw.get("client_request_id") or None,
            key_id=raw.get("key_id") or None,
        )
        return StoredTask(record, PeriodStamps.decode(raw["stamps"]))

    async def observe(self, stored: StoredTask, fresh: RivyaTask) -> Observed:
        """Record Rivya's newer state (only ever forward); settle the task if it has ended."""
        k, team = self._keys, stored.record.team
        async with store_errors():
            outcome = await self._scripts.observe(
                keys=[
                    k.task(team, fresh.id),
                    k.reservations(team),
                    *spend_keys(k, team, stored.stamps),
                    k.settle_due(team),
                ],
                args=[fresh.id, fresh.status, fresh.model_dump_json(), fresh.final_credits],
            )
        return Observed(int(outcome))

    async def give_up(self, stored: StoredTask) -> int:
        """Stop waiting for a task: its held credits count as spent; -1 if it had ended."""
        k, team = self._keys, stored.record.team
        async with store_errors():
            spent = await self._scripts.give_up(
                keys=[
                    k.task(team, stored.record.id),
                    k.reservations(team),
                    *spend_keys(k, team, stored.stamps),
                    k.settle_due(team),
                ],
                args=[stored.record.id],
            )
        return int(spent)

    async def reservation(self, team_id: str, task_id: str) -> str | None:
        """The raw reservation entry a task holds (``credits|stamps|created_ms``), if any."""
        async with store_errors():
            entry = await self._redis.hget(self._keys.reservations(team_id), task_id)
        return str(entry) if entry is not None else None

    async def settle_orphan(self, team_id: str, task_id: str, entry: str, *, charge: int) -> int:
        """Settle the reservation of a task whose record is gone: ``charge`` credits (Rivya's
        final_credits), or -1 for what it held. Returns the credits charged, -1 if the entry
        changed meanwhile."""
        k = self._keys
        stamps = PeriodStamps.decode(entry.split("|", 2)[1])
        async with store_errors():
            charged = await self._scripts.settle_orphan(
                keys=[
                    k.reservations(team_id),
                    *spend_keys(k, team_id, stamps),
                    k.settle_due(team_id),
                ],
                args=[task_id, entry, charge],
            )
        return int(charged)
