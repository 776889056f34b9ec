"""Following tasks to their end: when to poll Rivya next, and recording what it said.

Used by the background settler and by client reads alike, so a task is settled exactly once,
by whoever first sees it end.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from app import context
from app.domain import TaskRecord
from app.store.tasks import Observed, StoredTask, TaskStore
from app.wire import RivyaTask

log = logging.getLogger("app.settlement")


@dataclass(frozen=True)
class PollSchedule:
    """rivya-api.md: first poll 2-3 s after creation, then every 5-10 s, slower for long jobs."""

    first_min: float = 2.0
    first_max: float = 3.0
    every_min: float = 5.0
    every_max: float = 10.0
    slow_after: float = 300.0
    slow_factor: float = 3.0

    def first_poll(self, rng: random.Random) -> float:
        return rng.uniform(self.first_min, self.first_max)

    def next_poll(self, age_seconds: float, rng: random.Random) -> float:
        delay = rng.uniform(self.every_min, self.every_max)
        return delay * self.slow_factor if age_seconds > self.slow_after else delay


class Settlement:
    def __init__(self, tasks: TaskStore) -> None:
        self._tasks = tasks

    async def observe(self, stored: StoredTask, fresh: RivyaTask) -> TaskRecord:
        """Record Rivya's view of the task; returns the task as it now stands."""
        outcome = await self._tasks.observe(stored, fresh)
        if outcome is Observed.SETTLED:
            context.note_task(fresh.id)
            log.info(
                "task settled",
                extra={
                    "team": stored.record.team,
                    "task_id": fresh.id,
                    "status": fresh.status,
                    "final_credits": 0 if fresh.status == "failed" else fresh.final_credits,
                },
            )
        if outcome in (Observed.SETTLED, Observed.PROGRESSED):
            return stored.record.model_copy(update={"upstream": fresh})
        # Ours was as far along (another reader got there first): reread the truth.
        again = await self._tasks.get(stored.record.team, fresh.id)
        return again.record if again else stored.record
