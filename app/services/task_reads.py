"""Reading a team's tasks: one task, held until it ends if the caller waits; a page of them; and
a new task's answer, held the same way.

A read of a terminal task is served from Redis alone; a running task is refreshed from Rivya
when its poll is due, and whoever sees it end settles it. A wait is woken at once when this
process records news of the task, and otherwise looks again at Redis at a bounded pace.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app import context
from app.auth.callers import Caller
from app.clock import Clock
from app.domain.tasks import StoredTask, TaskFilter, TaskRecord
from app.errors import NotFound, StoreUnavailable
from app.rivya_schemas import TaskStatus
from app.services.listings import DEFAULT_LIST_LIMIT, decode_cursor, encode_cursor, listing_bounds
from app.services.settlement import Settlement
from app.store.tasks import TaskStore

MAX_WAIT_SECONDS = 60


@dataclass(frozen=True)
class TaskListing:
    """A page of the team's tasks, newest first; ``next_cursor`` is None once none are left.
    A page may be short (even empty) and still have a cursor: a listing reads a bounded part of
    the team's index per call."""

    tasks: list[TaskRecord]
    next_cursor: str | None


def _visible(record: TaskRecord, caller: Caller) -> bool:
    return caller.subject is None or record.subject == caller.subject


class TaskReads:
    def __init__(
        self, store: TaskStore, settlement: Settlement, clock: Clock, *, wait_poll_seconds: float
    ) -> None:
        self._store, self._settlement, self._clock = store, settlement, clock
        self._poll = wait_poll_seconds

    async def get(self, caller: Caller, task_id: str, *, wait: float = 0) -> TaskRecord:
        stored = await self._store.get(caller.team.tenant, task_id)
        # A browser token sees its own subject's tasks only: another's is as missing as any.
        if stored is None or not _visible(stored.record, caller):
            raise NotFound(f"No task {task_id!r}.")
        context.note_task(task_id)
        return await self._follow(stored, wait=wait)

    async def list_tasks(
        self,
        caller: Caller,
        *,
        status: TaskStatus | None = None,
        client_request_id: str | None = None,
        since: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        cursor: str | None = None,
    ) -> TaskListing:
        """The caller's team's tasks, newest first, as the gateway last knew them: the settler
        keeps stored states current, so a listing never asks Rivya (it could not afford to for
        a page of running tasks). Pass the same filters with each page's cursor."""
        after, since_ms = listing_bounds(
            limit=limit, cursor=cursor, since=since, decode=decode_cursor
        )
        wanted = TaskFilter(status, client_request_id, since_ms, subject=caller.subject)
        # A client_request_id filter scans too (bounded, with a cursor): a key reused after its
        # claim expired names several tasks, and every one of them is listed.
        page = await self._store.list_page(caller.team.tenant, wanted, after=after, limit=limit)
        resume = page.resume_after
        return TaskListing(page.records, encode_cursor(resume) if resume else None)

    async def current(self, stored: StoredTask) -> TaskRecord:
        """The task as it stands: a running one refreshed from Rivya if its poll is due."""
        return await self._follow(stored, wait=0)

    async def follow(self, record: TaskRecord, *, first_poll_in: float, wait: float) -> TaskRecord:
        """Hold a new task's answer until it ends or ``wait`` seconds pass. As rivya-api.md
        asks, the first poll of a new task comes 2-3 s after creation (``first_poll_in``), not
        at once."""
        try:
            stored = await self._store.get(record.team, record.id)
        except StoreUnavailable:
            # Rivya made the task; Redis will hear of it shortly. Answer what Rivya said.
            return record
        if stored is None:
            return record
        return await self._follow(stored, wait=wait, first_delay=min(first_poll_in, wait))

    async def _follow(
        self, stored: StoredTask, *, wait: float, first_delay: float = 0
    ) -> TaskRecord:
        deadline = self._clock.now() + min(max(wait, 0), MAX_WAIT_SECONDS)
        record = stored.record
        if first_delay > 0 and not record.upstream.is_terminal:
            # Until its first poll, unless news comes first (a hint from Rivya polled it).
            await self._wait_for_news(record.id, first_delay)
            record = await self._reread(stored)
        while not record.upstream.is_terminal:
            record = await self._settlement.refresh(replace(stored, record=record))
            remaining = deadline - self._clock.now()
            if record.upstream.is_terminal or remaining <= 0:
                break
            # Woken at once when this process records news of the task; else look again at
            # Redis (what another replica's settler learnt) every WAIT_POLL_SECONDS.
            await self._wait_for_news(record.id, min(self._poll, remaining))
            record = await self._reread(replace(stored, record=record))
        return record

    async def _wait_for_news(self, task_id: str, seconds: float) -> None:
        await self._settlement.updates.wait(task_id, seconds, clock=self._clock)

    async def _reread(self, stored: StoredTask) -> TaskRecord:
        again = await self._store.get(stored.record.team, stored.record.id)
        return again.record if again else stored.record
