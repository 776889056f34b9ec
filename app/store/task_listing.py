"""Listing a team's tasks, newest first, a page at a time, from the team's task index (a
sorted set by creation time) and the task hashes it names; bounded work per page."""

from __future__ import annotations

from typing import NamedTuple, cast

from redis.asyncio import Redis

from app.domain.results import Custody, KeptFile
from app.domain.tasks import TaskFilter, TaskPage, TaskPosition, TaskRecord
from app.rivya_schemas import RivyaTask
from app.store.keyspace import KeySpace
from app.store.redis import store_errors


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
    custody: str | None  # of its results, once it succeeded


def _kept(only: TaskFilter, position: TaskPosition, row: _Row) -> bool:
    return (
        (only.subject is None or row.subject == only.subject)
        and (only.status is None or row.status == only.status)
        and (only.client_request_id is None or row.client_request_id == only.client_request_id)
        and (only.since_ms is None or position.created_ms >= only.since_ms)
    )


# Bounded work per listing call: a filter that matches little must not walk a whole index in
# one request. Past this many index entries the page ends short, with a position to resume at.
SCAN_PER_ITEM = 10
MAX_SCAN = 1000
MAX_TIES = 10_000  # tasks of one team recorded in one millisecond: far more than any rate allows


def task_record(team_id: str, row: _Row | dict[str, str]) -> TaskRecord:
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
        custody=Custody(custody) if (custody := fields.get("custody")) else None,
        kept={
            int(name[5:]): KeptFile.decode(value)
            for name, value in fields.items()
            if name.startswith("kept:") and value
        },
    )


class TaskListing:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis, self._keys = redis, keys

    async def page(
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
                if row.upstream is None or not _kept(wanted, position, row):
                    continue
                found.append(task_record(team_id, row))
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
            with store_errors():
                tied = await self._redis.zrevrangebyscore(
                    index, after.created_ms, after.created_ms, start=0, num=MAX_TIES
                )
            return str(after.created_ms), sum(1 for task in tied if str(task) > after.task_id)
        return str(after.created_ms), int(rank) - int(newer) + 1

    async def _index_chunk(
        self, index: str, high: str, low: str, offset: int, count: int
    ) -> list[TaskPosition]:
        with store_errors():
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
