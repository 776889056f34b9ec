"""Creating and reading tasks: the one path every create takes, whichever surface it came in on.

A create is: admit (one Lua script: rate, in-flight, budget reservation) → Rivya → record (one
Lua script: task + reservation + settle queue). A definite refusal by Rivya releases the
reservation at once; an unknown outcome keeps it. Reads of a terminal task are served from
Redis alone; a running task is refreshed from Rivya, and whoever sees it end settles it.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass

from app import context
from app.auth.callers import Caller
from app.clock import Clock
from app.domain import TaskRecord
from app.errors import (
    GatewayError,
    ModelNotAllowed,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.services.admission import Admission
from app.services.generations import GenerationRequest
from app.services.settlement import PollSchedule, Settlement
from app.store.admission import Admitted
from app.store.tasks import StoredTask, TaskStore
from app.upstream.client import RivyaClient

log = logging.getLogger("app.tasks")

MAX_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Created:
    record: TaskRecord
    admitted: Admitted


class TaskService:
    def __init__(
        self,
        store: TaskStore,
        admission: Admission,
        settlement: Settlement,
        upstream: RivyaClient,
        clock: Clock,
        *,
        schedule: PollSchedule,
        wait_poll_seconds: float,
    ) -> None:
        self._store, self._admission, self._settlement = store, admission, settlement
        self._upstream, self._clock = upstream, clock
        self._schedule, self._poll = schedule, wait_poll_seconds
        self._rng = random.Random()

    async def create(self, caller: Caller, request: GenerationRequest) -> Created:
        team = caller.team
        if not team.may_use(request.model.id):
            raise ModelNotAllowed(f"Team {team.id!r} may not use {request.model.id!r}.")
        admitted = await self._admission.reserve(team, request.model.base_credits)
        # A fresh upstream key per create: a retry of this very call can never make a second
        # task at Rivya.
        upstream_key = f"gw-{uuid.uuid4().hex}"
        try:
            task = await self._upstream.create_generation(
                request.rivya_body(), idempotency_key=upstream_key
            )
        except GatewayError as exc:
            if exc.outcome_unknown:
                log.warning(
                    "create outcome unknown; reservation kept",
                    extra={"team": team.id, "reservation": admitted.reservation_id},
                )
            else:
                await self._admission.release(team, admitted)
            raise
        context.note_task(task.id)
        record = TaskRecord(
            team=team.id,
            upstream=task,
            client_request_id=request.client_request_id,
            key_id=caller.key_id,
        )
        now = self._clock.now()
        await self._store.record(
            record,
            admitted,
            created_ms=int(now * 1000),
            first_poll_ms=int((now + self._schedule.first_poll(self._rng)) * 1000),
        )
        log.info("task created", extra={"task_id": task.id, "team": team.id})
        return Created(record, admitted)

    async def get(self, caller: Caller, task_id: str, *, wait: float = 0) -> TaskRecord:
        stored = await self._store.get(caller.team.id, task_id)
        if stored is None:
            raise NotFound(f"No task {task_id!r}.")
        context.note_task(task_id)
        return await self._follow(stored, wait=wait)

    async def follow(self, created: Created, *, wait: float) -> TaskRecord:
        """Hold a create's answer until its task ends or ``wait`` seconds pass. As rivya-api.md
        asks, the first poll comes 2-3 s after creation, not at once."""
        stored = StoredTask(created.record, created.admitted.stamps)
        first_poll = self._schedule.first_poll(self._rng)
        return await self._follow(stored, wait=wait, first_delay=min(first_poll, wait))

    async def _follow(
        self, stored: StoredTask, *, wait: float, first_delay: float = 0
    ) -> TaskRecord:
        deadline = self._clock.now() + min(max(wait, 0), MAX_WAIT_SECONDS)
        record = stored.record
        if first_delay > 0 and not record.upstream.is_terminal:
            await self._clock.sleep(first_delay)
        while not record.upstream.is_terminal:
            record = await self._refresh(StoredTask(record, stored.stamps))
            remaining = deadline - self._clock.now()
            if record.upstream.is_terminal or remaining <= 0:
                break
            await self._clock.sleep(min(self._poll, remaining))
        return record

    async def _refresh(self, stored: StoredTask) -> TaskRecord:
        try:
            fresh = await self._upstream.get_generation(stored.record.id)
        except (UpstreamUnavailable, UpstreamTimeout, UpstreamError, NotFound) as exc:
            # A status read degrades to the last known state rather than failing the caller
            # (a task we recorded is the caller's, whatever Rivya says about it right now).
            log.warning(
                "task refresh failed", extra={"task_id": stored.record.id, "reason": exc.code}
            )
            return stored.record
        return await self._settlement.observe(stored, fresh)
