"""Tasks the gateway created, in Redis: Rivya's latest answer, the owning team, the reservation.

A task's key embeds its team, so reading another team's task simply finds nothing: ownership
costs no extra lookup, and "not yours" is indistinguishable from "does not exist".
"""

from __future__ import annotations

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.domain.creates import PendingCreate
from app.domain.tasks import (
    NotGivenUp,
    Observed,
    Recorded,
    StoredTask,
    TaskFilter,
    TaskPage,
    TaskPosition,
    TaskRecord,
)
from app.periods import PeriodStamps
from app.rivya_schemas import RivyaTask
from app.store.contracts import creates as c
from app.store.keyspace import KeySpace, key_spend_keys, spend_keys
from app.store.redis import store_errors, text_map
from app.store.reservations import ReservationEntry
from app.store.schedule import DueTeams
from app.store.scripts import Scripts
from app.store.task_listing import TaskListing, task_record
from app.store.tenant_keys import tenant_keys


def charge_arg(task: RivyaTask) -> int:
    """Rivya's charge for the money scripts: -1 when it gave no valid one (charge what is held)."""
    charge = task.charge
    return -1 if charge is None else charge


class TaskStore:
    def __init__(
        self,
        redis: Redis,
        keys: KeySpace,
        scripts: Scripts,
        clock: Clock,
        due: DueTeams,
        *,
        retention_seconds: int,
        alert_thresholds: tuple[int, ...] = (),
    ) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts
        self._clock, self._retention, self._due = clock, retention_seconds, due
        self._listing = TaskListing(redis, keys)
        self._alert_thresholds = ",".join(str(t) for t in alert_thresholds)

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
        team, task = record.team, record.upstream
        with self._due.scheduling(team), store_errors():
            outcome = await self._scripts.record(
                keys=self._record_keys(team, task.id, create),
                args=c.RecordArgs(
                    reservation_id=create.reservation_id,
                    task_id=task.id,
                    status=task.status,
                    task=task.model_dump_json(),
                    reserved=reserved,
                    # As the caller gave it (shown, filtered).
                    client_request_id=record.client_request_id or "",
                    key_id=record.key_id or "",
                    time=script_time(self._clock),
                    retention_seconds=self._retention,
                    stamps=create.stamps.encode(),
                    first_poll_ms=int(first_poll_in * 1000),
                    final_credits=charge_arg(task),
                    model=task.model,
                    subject=create.subject or "",
                    token_id=create.token_id or "",
                    alert_thresholds=self._alert_thresholds,
                ),
            )
        code, anomaly, index_at = (int(v) for v in outcome)
        await self._due.index_at(team, index_at)
        return Recorded(
            new=code >= 0, settled=code == 2, unreserved=anomaly == 1, unpriced=anomaly == 2
        )

    async def get(self, team_id: str, task_id: str) -> StoredTask | None:
        with store_errors():
            raw = text_map(await self._redis.hgetall(self._keys.task(team_id, task_id)))
        if not raw:
            return None
        record = task_record(team_id, raw)
        # The key whose books hold its money, as record.lua noted it (older tasks: their key).
        books_key = raw.get("books_key", record.key_id or "")
        return StoredTask(record, PeriodStamps.decode(raw["stamps"]), books_key)

    async def list_page(
        self, team_id: str, wanted: TaskFilter, *, after: TaskPosition | None, limit: int
    ) -> TaskPage:
        return await self._listing.page(team_id, wanted, after=after, limit=limit)

    async def observe(self, stored: StoredTask, fresh: RivyaTask) -> Observed:
        """Record Rivya's newer state (only ever forward); settle the task if it has ended."""
        team = stored.record.team
        with self._due.scheduling(team), store_errors():
            outcome, index_at = await self._scripts.observe(
                keys=c.ObserveKeys(
                    *self._task_money_keys(stored, fresh.id),
                    webhooks=self._keys.webhooks(team),
                    outbox=self._keys.outbox(team),
                    schedule_marker=self._keys.scheduled(team),
                ),
                args=c.ObserveArgs(
                    task_id=fresh.id,
                    status=fresh.status,
                    task=fresh.model_dump_json(),
                    final_credits=charge_arg(fresh),
                    time=script_time(self._clock),
                ),
            )
        await self._due.index_at(team, int(index_at))  # its events are due at once
        return Observed(int(outcome))

    async def give_up(
        self, stored: StoredTask, *, after_seconds: float, look_again_in: float
    ) -> int | NotGivenUp:
        """Stop waiting for a task older than ``after_seconds`` by Redis's clock: its held
        credits count as spent (returned), and it is looked at again only every
        ``look_again_in`` seconds."""
        with store_errors():
            spent = await self._scripts.give_up(
                keys=self._task_money_keys(stored, stored.record.id),
                args=c.GiveUpArgs(
                    task_id=stored.record.id,
                    time=script_time(self._clock),
                    after_ms=int(after_seconds * 1000),
                    look_again_ms=int(look_again_in * 1000),
                ),
            )
        if int(spent) < 0:
            return NotGivenUp.NOT_OLD_ENOUGH if int(spent) == -2 else NotGivenUp.ENDED
        return int(spent)

    async def reservation(self, team_id: str, task_id: str) -> ReservationEntry | None:
        """The reservation a task holds."""
        with store_errors():
            entry = await self._redis.hget(self._keys.reservations(team_id), task_id)
        return ReservationEntry.parse(str(entry)) if entry is not None else None

    async def settle_orphan(
        self,
        team_id: str,
        task_id: str,
        entry: ReservationEntry,
        *,
        charge: int | None,
        status: str = "",
    ) -> int | None:
        """Settle the reservation of a task whose record is gone: ``charge`` credits (Rivya's
        final_credits), or None for what it held; ``status`` Rivya's, if it said (an end is
        written for the team's webhooks). Returns the credits charged, None if the entry
        changed meanwhile."""
        k = self._keys
        token_id = entry.token or "-"
        with self._due.scheduling(team_id), store_errors():
            charged, index_at = await self._scripts.settle_orphan(
                keys=c.SettleOrphanKeys(
                    reservations=k.reservations(team_id),
                    periods=spend_keys(k, team_id, entry.stamps),
                    settle_queue=k.settle_due(team_id),
                    task=k.task(team_id, task_id),
                    ledger=k.ledger(team_id),
                    token_credits=k.token_credits(team_id, token_id),
                    key_periods=key_spend_keys(k, team_id, entry.key, entry.stamps),
                    webhooks=k.webhooks(team_id),
                    outbox=k.outbox(team_id),
                    schedule_marker=k.scheduled(team_id),
                ),
                args=c.SettleOrphanArgs(
                    task_id=task_id,
                    entry=entry.raw,
                    charge=-1 if charge is None else charge,
                    status=status,
                    time=script_time(self._clock),
                ),
            )
        await self._due.index_at(team_id, int(index_at))
        return None if int(charged) < 0 else int(charged)

    def _task_money_keys(self, stored: StoredTask, task_id: str) -> c.TaskMoneyKeys:
        k, record = self._keys, stored.record
        return c.TaskMoneyKeys(
            task=k.task(record.team, task_id),
            reservations=k.reservations(record.team),
            periods=spend_keys(k, record.team, stored.stamps),
            settle_queue=k.settle_due(record.team),
            ledger=k.ledger(record.team),
            token_credits=k.token_credits(record.team, record.token_id or "-"),
            key_periods=key_spend_keys(k, record.team, stored.books_key, stored.stamps),
        )

    def _record_keys(self, team: str, task_id: str, create: PendingCreate) -> c.RecordKeys:
        k = self._keys
        tenant = tenant_keys(k, team)
        return c.RecordKeys(
            task=k.task(team, task_id),
            reservations=tenant.reservations,
            team_tasks=tenant.team_tasks,
            periods=spend_keys(k, team, create.stamps),
            settle_queue=tenant.settle_due,
            claim=k.idempotency(team, create.claim_id),
            pending=tenant.pending_creates,
            abandoned_mark=k.abandoned(team, create.reservation_id),
            ledger=tenant.ledger,
            token_credits=k.token_credits(team, create.token_id or "-"),
            team=tenant.team,
            outbox=tenant.outbox,
            schedule_marker=tenant.scheduled,
            key_periods=key_spend_keys(k, team, create.key_id or "", create.stamps),
            abandoned_key=k.abandoned_key(team, create.reservation_id),
            webhooks=tenant.webhooks,
        )
