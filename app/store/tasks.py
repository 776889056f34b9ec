"""Tasks the gateway created, in Redis: Rivya's latest answer, the owning team, the reservation.

A task's key embeds its team, so reading another team's task simply finds nothing: ownership
costs no extra lookup, and "not yours" is indistinguishable from "does not exist".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import NamedTuple, cast

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.creates import PendingCreate
from app.domain.tasks import TaskRecord
from app.periods import PeriodStamps
from app.store.admission import spend_keys
from app.store.contracts import creates as c
from app.store.keyspace import KeySpace
from app.store.redis import store_errors, text_map
from app.store.reservations import ReservationEntry
from app.store.schedule import DueTeams
from app.store.scripts import Scripts
from app.wire import RivyaTask


class Observed(IntEnum):
    """What recording a fresh upstream view of a task did (``observe.lua``'s answer)."""

    MISSING = -1
    UNCHANGED = 0
    PROGRESSED = 1
    SETTLED = 2
    # Settled at what it held: Rivya said it ended but gave no valid final_credits (an anomaly).
    SETTLED_UNPRICED = 3

    @property
    def settled(self) -> bool:
        return self in (Observed.SETTLED, Observed.SETTLED_UNPRICED)


@dataclass(frozen=True)
class Recorded:
    """What recording a new task did."""

    new: bool  # False: it was recorded already
    settled: bool  # Rivya reported it ended: settled then and there
    # It had no live reservation (a second task for one create, an admission lost with Redis's
    # data): charged as new spend, and worth an operator's look.
    unreserved: bool
    # It had ended, with no valid final_credits from Rivya: charged what it held (an anomaly).
    unpriced: bool = False


@dataclass(frozen=True)
class StoredTask:
    record: TaskRecord
    stamps: PeriodStamps


@dataclass(frozen=True, order=True)
class TaskPosition:
    """A task's place in the team's index. Listing runs newest first, i.e. by (created_ms,
    task_id) descending; the id breaks ties between tasks created in the same millisecond."""

    created_ms: int
    task_id: str


class _Row(NamedTuple):
    """The task hash fields a listing shows or filters on (it holds more: stamps, reservation).
    All None once the hash has expired while the index still names the task."""

    status: str | None
    upstream: str | None
    client_request_id: str | None
    key_id: str | None
    created_ms: str | None
    subject: str | None
    token: str | None
    final_credits: str | None  # what the team was charged, once settled


@dataclass(frozen=True)
class TaskFilter:
    """What a listing keeps; None keeps everything."""

    status: str | None = None
    client_request_id: str | None = None
    since_ms: int | None = None  # created at or after
    subject: str | None = None  # a browser token's: only its own tasks

    def keeps(self, position: TaskPosition, row: _Row) -> bool:
        return (
            (self.subject is None or row.subject == self.subject)
            and (self.status is None or row.status == self.status)
            and (self.client_request_id is None or row.client_request_id == self.client_request_id)
            and (self.since_ms is None or position.created_ms >= self.since_ms)
        )


@dataclass(frozen=True)
class TaskPage:
    records: list[TaskRecord]
    positions: list[TaskPosition]  # each record's place in the index
    # Where the next page resumes (strictly after it); None once nothing older is left.
    resume_after: TaskPosition | None


# Bounded work per listing call: a filter that matches little must not walk a whole index in
# one request. Past this many index entries the page ends short, with a position to resume at.
SCAN_PER_ITEM = 10
MAX_SCAN = 1000
MAX_TIES = 10_000  # tasks of one team recorded in one millisecond: far more than any rate allows


def _task_record(team_id: str, row: _Row | dict[str, str]) -> TaskRecord:
    fields = row._asdict() if isinstance(row, _Row) else row
    upstream = fields["upstream"]
    assert upstream is not None
    return TaskRecord(
        team=team_id,
        upstream=RivyaTask.model_validate_json(upstream),
        client_request_id=fields.get("client_request_id") or None,
        key_id=fields.get("key_id") or None,
        subject=fields.get("subject") or None,
        token_id=fields.get("token") or None,
        charged=int(charged) if (charged := fields.get("final_credits")) else None,
    )


def charge_arg(task: RivyaTask) -> int:
    """Rivya's charge for the money scripts: -1 when it gave no valid one (charge what is held)."""
    charge = task.charge
    return -1 if charge is None else charge


class NotGivenUp(Enum):
    ENDED = "it had ended, or was given up already"
    NOT_OLD_ENOUGH = "it is not that old yet, by Redis's clock"


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
        k, team, task = self._keys, record.team, record.upstream
        async with self._due.scheduling(team), store_errors():
            outcome = await self._scripts.record(
                keys=c.RecordKeys(
                    task=k.task(team, task.id),
                    reservations=k.reservations(team),
                    team_tasks=k.team_tasks(team),
                    periods=spend_keys(k, team, create.stamps),
                    settle_queue=k.settle_due(team),
                    claim=k.idempotency(team, create.claim_id),
                    pending=k.pending_creates(team),
                    abandoned_mark=k.abandoned(team, create.reservation_id),
                    ledger=k.ledger(team),
                    token_credits=k.token_credits(team, create.token_id or "-"),
                    team=k.team(team.partition("@")[0]),
                    outbox=k.outbox(team),
                    schedule_marker=k.scheduled(team),
                ),
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
        async with store_errors():
            raw = text_map(await self._redis.hgetall(self._keys.task(team_id, task_id)))
        if not raw:
            return None
        record = _task_record(team_id, raw)
        return StoredTask(record, PeriodStamps.decode(raw["stamps"]))

    async def list_page(
        self, team_id: str, wanted: TaskFilter, *, after: TaskPosition | None, limit: int
    ) -> TaskPage:
        """Up to ``limit`` of the team's tasks, newest first, strictly after ``after``. Reads
        the index in chunks of ``limit + 1`` (one more tells whether anything follows), each
        chunk's hashes in one pipeline, and stops after ``min(10 * limit, 1000)`` entries even
        if the page is short: then it still says where to resume."""
        index = self._keys.team_tasks(team_id)
        high, offset = await self._resume_bound(index, after)
        low = "-inf" if wanted.since_ms is None else str(wanted.since_ms)
        budget = min(limit * SCAN_PER_ITEM, MAX_SCAN)
        found: list[TaskRecord] = []
        places: list[TaskPosition] = []
        last = after
        while budget > 0:
            want = min(budget, limit + 1)
            positions = await self._index_chunk(index, high, low, offset, want)
            offset, budget = offset + len(positions), budget - len(positions)
            # Defensive: a task recorded meanwhile at the resume score shifts the offsets by
            # one; anything not strictly after the cursor was on an earlier page.
            fresh = [p for p in positions if after is None or p < after]
            rows = await self._listed_rows(team_id, [p.task_id for p in fresh])
            for i, (position, row) in enumerate(zip(fresh, rows, strict=True)):
                last = position
                if row.upstream is None or not wanted.keeps(position, row):
                    continue
                found.append(_task_record(team_id, row))
                places.append(position)
                if len(found) == limit:
                    more = i < len(fresh) - 1 or len(positions) == want
                    return TaskPage(found, places, position if more else None)
            if len(positions) < want:  # the index has nothing older
                return TaskPage(found, places, None)
        return TaskPage(found, places, last)

    async def _resume_bound(self, index: str, after: TaskPosition | None) -> tuple[str, int]:
        """Where a newest-first read of the index starts: the highest score to read and how
        many entries at that score to skip. Ties at the cursor's score are skipped by offset,
        from the cursor's rank; a cursor whose task is not in the index (pruned, or another
        team's in a listing across teams) resumes at its score past the ties that sort before
        it (newest-first order breaks ties by id, descending)."""
        if after is None:
            return "+inf", 0
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.zscore(index, after.task_id)
            pipe.zrevrank(index, after.task_id)
            pipe.zcount(index, f"({after.created_ms}", "+inf")
            score, rank, newer = await pipe.execute()
        if score is None or rank is None or int(score) != after.created_ms:
            async with store_errors():
                tied = await self._redis.zrevrangebyscore(
                    index, after.created_ms, after.created_ms, start=0, num=MAX_TIES
                )
            return str(after.created_ms), sum(1 for task in tied if str(task) > after.task_id)
        return str(after.created_ms), int(rank) - int(newer) + 1

    async def _index_chunk(
        self, index: str, high: str, low: str, offset: int, count: int
    ) -> list[TaskPosition]:
        async with store_errors():
            raw = await self._redis.zrevrangebyscore(
                index, high, low, start=offset, num=count, withscores=True
            )
        # WITHSCORES answers (member, score) pairs; the client decodes members to str.
        entries = cast(list[tuple[str, float]], raw)
        return [TaskPosition(int(score), str(member)) for member, score in entries]

    async def _listed_rows(self, team_id: str, task_ids: list[str]) -> list[_Row]:
        if not task_ids:
            return []
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hmget(self._keys.task(team_id, task_id), list(_Row._fields))
            rows: list[list[str | None]] = await pipe.execute()
        return [_Row(*row) for row in rows]

    async def observe(self, stored: StoredTask, fresh: RivyaTask) -> Observed:
        """Record Rivya's newer state (only ever forward); settle the task if it has ended."""
        async with store_errors():
            outcome = await self._scripts.observe(
                keys=self._task_money_keys(stored, fresh.id),
                args=c.ObserveArgs(
                    task_id=fresh.id,
                    status=fresh.status,
                    task=fresh.model_dump_json(),
                    final_credits=charge_arg(fresh),
                ),
            )
        return Observed(int(outcome))

    async def give_up(
        self, stored: StoredTask, *, after_seconds: float, look_again_in: float
    ) -> int | NotGivenUp:
        """Stop waiting for a task older than ``after_seconds`` by Redis's clock: its held
        credits count as spent (returned), and it is looked at again only every
        ``look_again_in`` seconds."""
        async with store_errors():
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
        async with store_errors():
            entry = await self._redis.hget(self._keys.reservations(team_id), task_id)
        return ReservationEntry.parse(str(entry)) if entry is not None else None

    async def settle_orphan(
        self, team_id: str, task_id: str, entry: ReservationEntry, *, charge: int | None
    ) -> int | None:
        """Settle the reservation of a task whose record is gone: ``charge`` credits (Rivya's
        final_credits), or None for what it held. Returns the credits charged, None if the
        entry changed meanwhile."""
        k = self._keys
        token_id = entry.token or "-"
        async with store_errors():
            charged = await self._scripts.settle_orphan(
                keys=c.SettleOrphanKeys(
                    reservations=k.reservations(team_id),
                    periods=spend_keys(k, team_id, entry.stamps),
                    settle_queue=k.settle_due(team_id),
                    task=k.task(team_id, task_id),
                    ledger=k.ledger(team_id),
                    token_credits=k.token_credits(team_id, token_id),
                ),
                args=c.SettleOrphanArgs(
                    task_id=task_id, entry=entry.raw, charge=-1 if charge is None else charge
                ),
            )
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
        )
