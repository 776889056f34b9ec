"""Idempotency on ``client_request_id``: the handle a create without one is given, and how a
repeat of a claimed one is answered. Never by a second task at Rivya: a replay of the task (in
its current state), the error the first attempt ended with, a conflict for another body, or 409
``request_in_progress`` while the first is still being forwarded (after a short wait for it).

The claim itself is taken by the admission script (``store/lua/admit.lua``), in the same round
trip as the budget and the rates; what comes back for a repeat is a ``Repeat``, answered here.
"""

from __future__ import annotations

import asyncio
import secrets

from app import context
from app.auth.callers import Caller
from app.catalog import FieldError
from app.domain.creates import Admitted, Repeat
from app.domain.tasks import TaskRecord
from app.errors import GatewayError, IdempotencyConflict, NotFound, RequestInProgress
from app.services.admission import Admission
from app.services.forwarding import Resolver, unconfirmed_create
from app.services.generations import GenerationRequest
from app.services.repeat_waits import FIRST_PAUSE_SECONDS, RepeatWaits, next_pause
from app.services.task_reads import TaskReads
from app.store.tasks import TaskStore

REPLAYED = {"Idempotent-Replayed": "true"}


def assigned_client_request_id() -> str:
    """The handle a create without a client_request_id gets: if its outcome is ever unknown, a
    retry with it learns the outcome instead of making a second task."""
    return "gw-" + secrets.token_hex(12)


class Idempotency:
    def __init__(
        self,
        store: TaskStore,
        admission: Admission,
        resolver: Resolver,
        reads: TaskReads,
        waits: RepeatWaits,
        *,
        in_progress_wait_seconds: float,
    ) -> None:
        self._store, self._admission, self._resolver = store, admission, resolver
        self._reads, self._waits = reads, waits
        self._in_progress_wait = in_progress_wait_seconds

    async def wait_for_first(
        self, caller: Caller, request: GenerationRequest, decision: Repeat
    ) -> Admitted | Repeat:
        """The first of several identical requests is still being forwarded: wait briefly (woken
        when it closes in this process), so that its repeats answer with its task, not a 409."""
        tenant, crid = caller.team.tenant, request.client_request_id or ""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._in_progress_wait
        pause = FIRST_PAUSE_SECONDS
        now: Admitted | Repeat = decision
        async with self._waits.waiting(tenant) as room:
            while room and isinstance(now, Repeat) and now.kind == "in_progress":
                left = give_up_at - loop.time()
                if left <= 0:
                    break
                await self._waits.pause(tenant, crid, min(pause, left))
                pause = next_pause(pause)
                now = await self._admission.decide(
                    caller.team, request, key_id=caller.key_id, token=caller.token
                )
        return now

    async def answer(
        self, caller: Caller, request: GenerationRequest, repeat: Repeat
    ) -> TaskRecord:
        """The first attempt's task, as it is now; or the error that answers this repeat."""
        crid = request.client_request_id
        if repeat.kind == "replay" and repeat.task_id is not None:
            stored = await self._store.get(caller.team.tenant, repeat.task_id)
            if stored is None:  # the task outlived its retention; the claim did not
                raise NotFound(f"Task {repeat.task_id!r} of this client_request_id has expired.")
            context.note_task(repeat.task_id)
            return await self._reads.current(stored)
        if repeat.kind == "conflict":
            task = f" (task {repeat.task_id})" if repeat.task_id else ""
            raise IdempotencyConflict(
                f"client_request_id {crid!r} was already used{task} for a different request.",
                details=[FieldError("client_request_id", f"already used{task}")],
            )
        if repeat.kind == "too_late" and repeat.create is not None:
            # Lost, and too old to resend without risking a second task: count it as spent,
            # and from now on answer what the resolver would have remembered.
            await self._resolver.abandon(repeat.create)
            raise unconfirmed_create(headers=REPLAYED)
        if repeat.kind == "remembered" and repeat.error is not None:
            raise GatewayError.from_dict(repeat.error, headers=REPLAYED)
        retry = max(1, -(-repeat.retry_after_ms // 1000))
        raise RequestInProgress(
            f"A request with client_request_id {crid!r} is still being forwarded to Rivya; "
            f"retry in {retry} s for its outcome.",
            headers={"Retry-After": str(retry)},
        )
