"""Creating tasks: the one path every create takes, whichever surface it came in on.

A create is: admit (one Lua script: idempotency claim, rate, in-flight, budget reservation) →
Rivya → record (one Lua script: task, reservation, settle queue, claim). A repeat of a claimed
``client_request_id`` never reaches Rivya: it replays the task (with its current state), the
remembered error, or a conflict. Reading tasks is ``task_reads.py``'s (``TaskService.reads``).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, replace

from app import context
from app.auth.callers import Caller
from app.catalog import FieldError
from app.clock import Clock
from app.domain.creates import Admitted, Repeat
from app.domain.rates import RateState
from app.domain.tasks import TaskRecord
from app.errors import (
    GatewayError,
    IdempotencyConflict,
    ModelNotAllowed,
    NotFound,
    RequestInProgress,
    StoreUnavailable,
    outcome_unknown,
)
from app.services.admission import Admission
from app.services.files import FileService
from app.services.forwarding import Forwarder, Made, Resolver, Unknown, unconfirmed_create
from app.services.generations import GenerationRequest
from app.services.repeat_waits import FIRST_PAUSE_SECONDS, RepeatWaits, next_pause
from app.services.settlement import Settlement
from app.services.task_reads import TaskReads
from app.store.tasks import TaskStore
from app.upstream_errors import error_for, unknown_outcome


@dataclass(frozen=True)
class Created:
    record: TaskRecord
    rate: RateState | None  # None for a replay: nothing was admitted
    replayed: bool = False
    first_poll_in: float = 0.0  # a new task is first polled this long after its creation


def assigned_client_request_id() -> str:
    """The handle a create without a client_request_id gets: if its outcome is ever unknown, a
    retry with it learns the outcome instead of making a second task."""
    return "gw-" + secrets.token_hex(12)


class TaskService:
    def __init__(
        self,
        store: TaskStore,
        admission: Admission,
        forwarder: Forwarder,
        resolver: Resolver,
        files: FileService,
        settlement: Settlement,
        clock: Clock,
        repeats: RepeatWaits,
        *,
        wait_poll_seconds: float,
        in_progress_wait_seconds: float,
    ) -> None:
        # Reading tasks: the routes' reads go to it directly; a replay and a create's answer
        # held until its task ends are reads too.
        self.reads = TaskReads(store, settlement, clock, wait_poll_seconds=wait_poll_seconds)
        self._repeats = repeats
        self._store, self._admission, self._forwarder = store, admission, forwarder
        self._files, self._resolver = files, resolver
        self._in_progress_wait = in_progress_wait_seconds

    @staticmethod
    def check_model(caller: Caller, request: GenerationRequest) -> None:
        team = caller.team
        if not team.may_use(request.model.id):
            allowed = ", ".join(team.allowed_models or [])
            raise ModelNotAllowed(
                f"Team {team.id!r} may not use {request.model.id!r} (the default when a request "
                f'names no model); it may use: {allowed}. Send "model" to choose one.'
                if request.model_defaulted
                else f"Team {team.id!r} may not use {request.model.id!r}; it may use: {allowed}."
            )

    async def create(self, caller: Caller, request: GenerationRequest) -> Created:
        team = caller.team
        self.check_model(caller, request)
        if request.client_request_id is None:
            request = replace(request, client_request_id=assigned_client_request_id())
        request = await self._files.resolve(team, request, caller.subject)
        decision = await self._admission.decide(
            team, request, key_id=caller.key_id, token=caller.token
        )
        if isinstance(decision, Repeat) and decision.kind == "in_progress":
            # The first of several identical requests is still being forwarded: wait briefly,
            # so that its repeats can answer with its task rather than with a 409.
            decision = await self._wait_for_first(caller, request, decision)
        try:
            if isinstance(decision, Admitted):
                return await self._forward(decision)
            return await self._repeat(caller, request, decision)
        except StoreUnavailable as lost:
            # Past the admission, a create of this key may exist at Rivya: never "nothing sent".
            raise outcome_unknown(request.client_request_id or "") from lost

    async def _forward(self, admitted: Admitted) -> Created:
        # A takeover resends an earlier create of this key: its answer is a replay.
        outcome = await self._forwarder.forward(admitted.create, resend=admitted.takeover)
        if isinstance(outcome, Made):
            first_poll = 0.0 if admitted.takeover else outcome.first_poll_in
            return Created(outcome.record, admitted.rate, admitted.takeover, first_poll)
        if isinstance(outcome, Unknown):
            raise unknown_outcome(outcome.failure, admitted.create.client_request_id or "")
        raise error_for(outcome.failure)

    async def _wait_for_first(
        self, caller: Caller, request: GenerationRequest, decision: Admitted | Repeat
    ) -> Admitted | Repeat:
        space, crid = caller.team.space, request.client_request_id or ""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._in_progress_wait
        pause = FIRST_PAUSE_SECONDS
        async with self._repeats.waiting(space) as room:
            while room and isinstance(decision, Repeat) and decision.kind == "in_progress":
                left = give_up_at - loop.time()
                if left <= 0:
                    break
                await self._repeats.pause(space, crid, min(pause, left))
                pause = next_pause(pause)
                decision = await self._admission.decide(
                    caller.team, request, key_id=caller.key_id, token=caller.token
                )
        return decision

    async def _repeat(self, caller: Caller, request: GenerationRequest, repeat: Repeat) -> Created:
        crid = request.client_request_id
        replayed = {"Idempotent-Replayed": "true"}
        if repeat.kind == "replay" and repeat.task_id is not None:
            stored = await self._store.get(caller.team.space, repeat.task_id)
            if stored is None:  # the task outlived its retention; the claim did not
                raise NotFound(f"Task {repeat.task_id!r} of this client_request_id has expired.")
            context.note_task(repeat.task_id)
            return Created(await self.reads.current(stored), None, replayed=True)
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
            raise unconfirmed_create(headers=replayed)
        if repeat.kind == "remembered" and repeat.error is not None:
            raise GatewayError.from_dict(repeat.error, headers=replayed)
        retry = max(1, -(-repeat.retry_after_ms // 1000))
        raise RequestInProgress(
            f"A request with client_request_id {crid!r} is still being forwarded to Rivya; "
            f"retry in {retry} s for its outcome.",
            headers={"Retry-After": str(retry)},
        )

    async def follow(self, created: Created, *, wait: float) -> TaskRecord:
        """Hold a create's answer until its task ends or ``wait`` seconds pass."""
        return await self.reads.follow(
            created.record, first_poll_in=created.first_poll_in, wait=wait
        )
