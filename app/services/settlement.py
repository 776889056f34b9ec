"""Following tasks to their end: when to poll Rivya next, asking it, and recording what it said.

Used by the background settler and by client reads alike, so a task is settled exactly once,
by whoever first sees it end. The settler's pass is here too: lease the due tasks, poll each,
give up only after a last look, and settle the reservation of a task whose record is gone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from dataclasses import replace

from app import context
from app.clock import Clock, epoch_or
from app.domain.results import Custody
from app.domain.settlement import PollSchedule, SettlePass
from app.domain.tasks import NotGivenUp, Observed, StoredTask, TaskRecord
from app.rivya_schemas import RivyaTask
from app.services.results import ResultCustody
from app.services.wakeups import WakeUps
from app.store.settlement import SettleQueue
from app.store.task_news import TaskNews
from app.store.tasks import TaskStore
from app.upstream.client import RivyaClient
from app.upstream.failures import UpstreamFailure, Why

log = logging.getLogger("app.settlement")

# A task given up on is still asked about this rarely, until its record expires.
GIVEN_UP_POLL_SECONDS = 3600.0
# A result whose copy failed for now is tried again after a quarter of the time it has been
# failing, within these bounds.
COPY_RETRY_SECONDS = 10.0
COPY_RETRY_MAX_SECONDS = 900.0


class Settlement:
    def __init__(
        self,
        tasks: TaskStore,
        queue: SettleQueue,
        upstream: RivyaClient,
        clock: Clock,
        *,
        schedule: PollSchedule,
        settle_pass: SettlePass,
        results: ResultCustody | None = None,
        news: TaskNews | None = None,
    ) -> None:
        self._tasks, self._queue, self._upstream = tasks, queue, upstream
        self._results, self.news = results, news
        self._clock, self._schedule, self._pass = clock, schedule, settle_pass
        self._limit = asyncio.Semaphore(settle_pass.concurrency)
        self._rng = random.Random()
        # Woken by task id whenever this process records a newer state of that task.
        self.updates = WakeUps()

    async def refresh(self, stored: StoredTask) -> TaskRecord:
        """The task as it stands, asking Rivya first only if the task's next poll is due: a
        reader shares the settlers' schedule, so however many read or wait on a task, on
        however many replicas, Rivya hears about it no more often than the schedule says. A
        failed poll degrades to the last known state (the task is the caller's, whatever Rivya
        says about it right now)."""
        record, team = stored.record, stored.record.team
        if record.upstream.is_terminal or not await self._queue.claim_one(
            team, record.id, lease_seconds=self._pass.lease_seconds
        ):
            return record
        fresh = await self._poll(team, record.id)
        if fresh is not None:
            record = await self.observe(stored, fresh)
        if not record.upstream.is_terminal:
            await self._reschedule(team, record)
        elif record.custody is Custody.COPYING:
            # Its results are copied by a settler, now rather than when this read's lease ends.
            await self._queue.reschedule(team, record.id, in_seconds=0)
        return record

    async def _reschedule(self, team: str, record: TaskRecord) -> None:
        age = self._clock.now() - epoch_or(record.upstream.created_at, self._clock.now())
        delay = self._schedule.next_poll(age, self._rng)
        await self._queue.reschedule(team, record.id, in_seconds=delay)

    async def observe(self, stored: StoredTask, fresh: RivyaTask) -> TaskRecord:
        """Record Rivya's view of the task; returns the task as it now stands."""
        outcome = await self._tasks.observe(stored, fresh)
        if outcome.settled or outcome is Observed.PROGRESSED:
            self.updates.wake(fresh.id)  # its waiters in this process look again at once
        if outcome.settled and self.news is not None:
            await self.news.publish(fresh.id)  # and those of every other replica
        if outcome is Observed.SETTLED_UNPRICED:
            unpriced_anomaly(stored.record.team, fresh)
        elif outcome is Observed.SETTLED:
            context.note_task(fresh.id)
            log.info(
                "task settled",
                extra={
                    "team": stored.record.team,
                    "task_id": fresh.id,
                    "status": fresh.status,
                    "final_credits": fresh.final_credits,
                },
            )
        if outcome is Observed.SETTLED_UNPRICED:
            again = await self._tasks.get(stored.record.team, fresh.id)  # what it was charged
            if again is not None:
                return again.record
        if outcome.settled or outcome is Observed.PROGRESSED:
            charged = fresh.charge if outcome.settled else None
            # A task that succeeds has its results copied next (observe.lua says so too).
            copying = Custody.COPYING if fresh.status == "succeeded" and fresh.result else None
            update = {"upstream": fresh, "charged": charged, "custody": copying}
            return stored.record.model_copy(update=update)
        # Ours was as far along (another reader got there first): reread the truth.
        again = await self._tasks.get(stored.record.team, fresh.id)
        return again.record if again else stored.record

    async def settle_due(self, team: str, *, start_until: float = math.inf) -> int:
        """Poll the team's tasks that are due (at most a batch, ``concurrency`` at once);
        returns how many were handled. None is started after ``start_until``
        (``time.monotonic()``): its lease lapses, and the team's next pass takes it."""
        due = await self._queue.claim(
            team, lease_seconds=self._pass.lease_seconds, limit=self._pass.batch
        )
        handled = await asyncio.gather(*(self._settle(team, t, start_until) for t in due))
        return sum(handled)

    async def _settle(self, team: str, task_id: str, start_until: float) -> int:
        async with self._limit:
            if time.monotonic() > start_until:
                return 0
            await self._settle_one(team, task_id)
            return 1

    async def _settle_one(self, team: str, task_id: str) -> None:
        stored = await self._tasks.get(team, task_id)
        if stored is None:
            await self._settle_orphan(team, task_id)
            return
        if stored.record.custody is Custody.COPYING:  # ended: only its results are left
            await self._keep_results(stored)
            return
        fresh = await self._poll(team, task_id)
        record = stored.record if fresh is None else await self.observe(stored, fresh)
        if record.upstream.is_terminal:
            if record.custody is Custody.COPYING:
                await self._keep_results(replace(stored, record=record))
            return
        age = self._clock.now() - epoch_or(record.upstream.created_at, self._clock.now())
        if age > self._pass.give_up_after_seconds:
            # A last look came first (above): Rivya still cannot say, so stop waiting. Its
            # age is judged again by Redis's clock (this replica's may be off); a task given
            # up stays queued, looked at rarely, so a late end still corrects its charge.
            held = await self._tasks.give_up(
                stored,
                after_seconds=self._pass.give_up_after_seconds,
                look_again_in=GIVEN_UP_POLL_SECONDS,
            )
            if isinstance(held, int):
                log.error(
                    "gave up on a task Rivya never ended; its credits count as spent",
                    extra={"team": team, "task_id": task_id, "credits": held},
                )
            if held is not NotGivenUp.NOT_OLD_ENOUGH:
                return
        await self._reschedule(team, record)

    async def _keep_results(self, stored: StoredTask) -> None:
        """Copy a succeeded task's results; a copy failed for now is tried again later, the
        longer after the longer it has failed."""
        if self._results is None:
            return
        record = stored.record
        if await self._results.copy(stored) is Custody.COPYING:
            since = self._clock.now() - epoch_or(record.upstream.updated_at, self._clock.now())
            retry_in = min(max(since / 4, COPY_RETRY_SECONDS), COPY_RETRY_MAX_SECONDS)
            await self._queue.reschedule(record.team, record.id, in_seconds=retry_in)

    async def _settle_orphan(self, team: str, task_id: str) -> None:
        """A queued task whose record is gone (evicted, or lost with Redis's data): settle the
        reservation it still holds, at Rivya's word if it has one, else at what it held."""
        entry = await self._tasks.reservation(team, task_id)
        if entry is None:  # nothing held: only the queue entry is left
            await self._queue.drop(team, task_id)
            return
        fresh = await self._poll(team, task_id)
        charge, status = None, ""  # what it held, unless Rivya says what it cost
        if fresh is not None and fresh.is_terminal:
            charge, status = fresh.charge, fresh.status
        charged = await self._tasks.settle_orphan(
            team, task_id, entry, charge=charge, status=status
        )
        if charged is not None:
            log.error(
                "money anomaly: settled a task whose record was gone",
                extra={"team": team, "task_id": task_id, "credits": charged},
            )

    async def _poll(self, team: str, task_id: str) -> RivyaTask | None:
        try:
            return await self._upstream.get_generation(task_id)
        except UpstreamFailure as failure:
            level = logging.INFO if failure.why is Why.CIRCUIT_OPEN else logging.WARNING
            log.log(
                level,
                "task poll failed",
                extra={"team": team, "task_id": task_id, "reason": failure.why.value},
            )
            return None


def unpriced_anomaly(team: str, task: RivyaTask) -> None:
    log.error(
        "money anomaly: Rivya reported a task ended without a valid final_credits; it stays "
        "charged what it held",
        extra={
            "team": team,
            "task_id": task.id,
            "status": task.status,
            "final_credits": task.final_credits,
        },
    )
