"""Creating and reading tasks: the one path every create takes, whichever surface it came in on.

Reads of a terminal task are served from Redis alone; a non-terminal task is refreshed from
Rivya, and the refresh is recorded (only ever forward) so every replica sees it.
"""

from __future__ import annotations

import logging
import uuid

from app import context
from app.auth.callers import Caller
from app.clock import Clock
from app.domain import TaskRecord
from app.errors import (
    ModelNotAllowed,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.services.generations import GenerationRequest
from app.store.tasks import TaskStore
from app.upstream.client import RivyaClient

log = logging.getLogger("app.tasks")

MAX_WAIT_SECONDS = 60


class TaskService:
    def __init__(
        self, store: TaskStore, upstream: RivyaClient, clock: Clock, *, wait_poll_seconds: float
    ) -> None:
        self._store, self._upstream, self._clock = store, upstream, clock
        self._poll = wait_poll_seconds

    async def create(self, caller: Caller, request: GenerationRequest) -> TaskRecord:
        if not caller.team.may_use(request.model.id):
            raise ModelNotAllowed(f"Team {caller.team.id!r} may not use {request.model.id!r}.")
        # A fresh upstream key per create: a retry of this very call can never make a second
        # task at Rivya.
        upstream_key = f"gw-{uuid.uuid4().hex}"
        task = await self._upstream.create_generation(
            request.rivya_body(), idempotency_key=upstream_key
        )
        context.note_task(task.id)
        record = TaskRecord(
            team=caller.team.id,
            upstream=task,
            client_request_id=request.client_request_id,
            key_id=caller.key_id,
        )
        await self._store.record(record, created_ms=int(self._clock.now() * 1000))
        log.info("task created", extra={"task_id": task.id, "team": caller.team.id})
        return record

    async def get(self, caller: Caller, task_id: str, *, wait: float = 0) -> TaskRecord:
        record = await self._store.get(caller.team.id, task_id)
        if record is None:
            raise NotFound(f"No task {task_id!r}.")
        context.note_task(task_id)
        return await self.follow(record, wait=wait)

    async def follow(self, record: TaskRecord, *, wait: float = 0) -> TaskRecord:
        """Refresh a task from Rivya until it is terminal or ``wait`` seconds have passed."""
        deadline = self._clock.now() + min(max(wait, 0), MAX_WAIT_SECONDS)
        while not record.upstream.is_terminal:
            record = await self._refresh(record)
            remaining = deadline - self._clock.now()
            if record.upstream.is_terminal or remaining <= 0:
                break
            await self._clock.sleep(min(self._poll, remaining))
        return record

    async def _refresh(self, record: TaskRecord) -> TaskRecord:
        try:
            fresh = await self._upstream.get_generation(record.id)
        except (UpstreamUnavailable, UpstreamTimeout, UpstreamError) as exc:
            # A status read degrades to the last known state rather than failing the caller.
            log.warning("task refresh failed", extra={"task_id": record.id, "reason": exc.code})
            return record
        await self._store.advance(record.team, fresh)
        return record.model_copy(update={"upstream": fresh})
