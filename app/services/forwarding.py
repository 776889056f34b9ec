"""Sending an admitted create to Rivya and closing it, whatever the answer.

The one place that decides what a create's outcome means for its reservation and its
idempotency claim. Used by requests and by the settler's resolver alike.

| Rivya's answer                                  | reservation | claim (client_request_id) |
|-------------------------------------------------|-------------|---------------------------|
| a task                                          | attached    | done: replays get the task |
| an error about the request (400, 404)           | released    | remembers the error        |
| a passing refusal (429, 503, no credits, auth)  | released    | forgotten: a retry runs    |
| no answer we can trust (timeout, reset, 5xx)    | kept        | kept: a retry resolves it  |

A create that is being sent *again* (its first outcome was lost, or its holder died) may
already exist at Rivya, so nothing its resend hears can prove otherwise: it is never released,
only recorded or, past Rivya's retry window, counted as spent.
"""

from __future__ import annotations

import logging
import random
import uuid

from app import context
from app.clock import Clock
from app.domain import TaskRecord
from app.errors import GatewayError, NotFound, UpstreamTimeout, ValidationFailed
from app.services.settlement import PollSchedule
from app.store.admission import AdmissionStore, PendingCreate
from app.store.tasks import TaskStore
from app.upstream.client import RivyaClient

log = logging.getLogger("app.tasks")

# Errors about the request itself: sending it again would get the same answer.
REMEMBERED_ERRORS = (ValidationFailed, NotFound)


class Forwarder:
    def __init__(
        self,
        admission: AdmissionStore,
        tasks: TaskStore,
        upstream: RivyaClient,
        clock: Clock,
        *,
        schedule: PollSchedule,
    ) -> None:
        self._admission, self._tasks, self._upstream = admission, tasks, upstream
        self._clock, self._schedule = clock, schedule
        self._rng = random.Random()

    async def forward(
        self, create: PendingCreate, *, resend: bool = False, retry_in: float = 0
    ) -> TaskRecord:
        """Send the create and close it. ``resend``: it may have been sent before. A create
        left unknown is offered to the next taker ``retry_in`` seconds from now."""
        try:
            task = await self._upstream.create_generation(
                create.body, idempotency_key=create.upstream_key
            )
        except GatewayError as exc:
            exc.outcome_unknown = exc.outcome_unknown or resend
            await self._after_failure(create, exc, retry_in)
            raise
        context.note_task(task.id)
        record = TaskRecord(
            team=create.team,
            upstream=task,
            client_request_id=create.client_request_id,
            key_id=create.key_id,
        )
        now = self._clock.now()
        await self._tasks.record(
            record,
            create,
            created_ms=int(now * 1000),
            first_poll_ms=int((now + self._schedule.first_poll(self._rng)) * 1000),
            # Rivya's figure when it gives one; the catalogue's when it does not.
            reserved=(
                task.reserved_credits
                if "reserved_credits" in task.model_fields_set
                else create.credits
            ),
        )
        log.info("task created", extra={"task_id": task.id, "team": create.team})
        return record

    async def _after_failure(
        self, create: PendingCreate, exc: GatewayError, retry_in: float
    ) -> None:
        if exc.outcome_unknown:
            # Rivya may have made the task. Keep the reservation and the claim, and let go of
            # the lease so the client's retry (same key) resends it with the same upstream key.
            log.warning(
                "create outcome unknown; reservation kept",
                extra={"team": create.team, "reservation": create.reservation_id},
            )
            until = int((self._clock.now() + retry_in) * 1000) if retry_in else 0
            await self._admission.unlease(create, until_ms=until)
            if not isinstance(exc, UpstreamTimeout):
                exc.message += " Retry with the same client_request_id to learn the outcome."
            return
        remember = exc.to_dict() if isinstance(exc, REMEMBERED_ERRORS) else None
        await self._admission.release(create, remember=remember)


def unconfirmed_create() -> UpstreamTimeout:
    """The answer for a create whose outcome could not be learned in time."""
    return UpstreamTimeout("Rivya never confirmed this create; its credits are counted as spent.")


class Resolver:
    """Finishes creates whose outcome is unknown and that nobody is resolving: resends them with
    their upstream key (Rivya returns the task if it made one) while that key is still inside
    Rivya's retry window; past it, counts their credits as spent, never as refunded."""

    def __init__(
        self,
        admission: AdmissionStore,
        forwarder: Forwarder,
        clock: Clock,
        *,
        window: float,
        lease: float,
        backoff: float = 5.0,
    ) -> None:
        self._admission, self._forwarder, self._clock = admission, forwarder, clock
        # A resend must *finish* inside Rivya's window: start none later than a lease before.
        self._last_start_ms = int(max(window - lease, 0) * 1000)
        self._backoff = backoff

    async def run_once(self, team: str) -> int:
        """Resolve the team's abandoned creates; returns how many were tried."""
        now_ms = int(self._clock.now() * 1000)
        tried = 0
        for pending in await self._admission.pending(team):
            create = await self._admission.lease(
                team, pending.reservation_id, now_ms=now_ms, owner=uuid.uuid4().hex
            )
            if create is None:  # someone is forwarding it, or it just closed
                continue
            tried += 1
            if now_ms - create.created_ms > self._last_start_ms:
                await self.abandon(create)
                continue
            try:
                await self._forwarder.forward(create, resend=True, retry_in=self._backoff)
            except GatewayError as exc:
                log.warning(
                    "resolving a create failed",
                    extra={"team": team, "reservation": create.reservation_id, "reason": exc.code},
                )
        return tried

    async def abandon(self, create: PendingCreate) -> None:
        spent = await self._admission.abandon(create, unconfirmed_create().to_dict())
        if spent >= 0:
            log.error(
                "create abandoned as spent: its outcome could not be learned",
                extra={"team": create.team, "reservation": create.reservation_id, "credits": spent},
            )
