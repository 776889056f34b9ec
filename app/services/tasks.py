"""Creating tasks: the one path every create takes, whichever surface it came in on.

A create is: admit (one Lua script: idempotency claim, rate, in-flight, budget reservation) →
Rivya → record (one Lua script: task, reservation, settle queue, claim). A repeat of a claimed
``client_request_id`` never reaches Rivya: ``idempotency.py`` answers it. Reading tasks is
``task_reads.py``'s (``TaskService.reads``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.auth.callers import Caller
from app.clock import Clock
from app.domain.creates import Admitted, Repeat
from app.domain.rates import RateState
from app.domain.tasks import TaskRecord
from app.errors import ModelNotAllowed, StoreUnavailable, outcome_unknown
from app.services.admission import Admission
from app.services.files import FileService
from app.services.forwarding import Forwarder, Made, Resolver, Unknown
from app.services.generations import GenerationRequest
from app.services.idempotency import Idempotency, assigned_client_request_id
from app.services.repeat_waits import RepeatWaits
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
        waits: RepeatWaits,
        *,
        wait_poll_seconds: float,
        in_progress_wait_seconds: float,
    ) -> None:
        # Reading tasks: the routes' reads go to it directly; a replay and a create's answer
        # held until its task ends are reads too.
        self.reads = TaskReads(store, settlement, clock, wait_poll_seconds=wait_poll_seconds)
        self._idempotency = Idempotency(
            store,
            admission,
            resolver,
            self.reads,
            waits,
            in_progress_wait_seconds=in_progress_wait_seconds,
        )
        self._admission, self._forwarder, self._files = admission, forwarder, files
        self.settlement = settlement  # its news of tasks' ends wakes this replica's waiters

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
            decision = await self._idempotency.wait_for_first(caller, request, decision)
        try:
            if isinstance(decision, Admitted):
                return await self._forward(decision)
            replayed = await self._idempotency.answer(caller, request, decision)
            return Created(replayed, None, replayed=True)
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

    async def follow(self, created: Created, *, wait: float) -> TaskRecord:
        """Hold a create's answer until its task ends or ``wait`` seconds pass."""
        return await self.reads.follow(
            created.record, first_poll_in=created.first_poll_in, wait=wait
        )
