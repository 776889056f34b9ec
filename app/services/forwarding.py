"""Sending an admitted create to Rivya and closing it, whatever the answer.

The one place that decides what a create's outcome means for its reservation and its
idempotency claim, and says it as a value: ``Made`` (recorded), ``NotMade`` (Rivya's verdict
refused it: released) or ``Unknown`` (Rivya may have made it: kept, for a retry with its
handle to learn). Used by requests and by the settler's resolver alike.

| Rivya's answer                                  | reservation | claim (client_request_id) |
|-------------------------------------------------|-------------|---------------------------|
| a task                                          | attached    | done: replays get the task |
| an error about the request (400, 404)           | released    | remembers the error        |
| a passing refusal (429, 503, no credits, auth)  | released    | forgotten: a retry runs    |
| no answer we can trust (timeout, reset, 5xx)    | kept        | kept: a retry resolves it  |

A create that is being sent *again* (its first outcome was lost, or its holder died) may
already exist at Rivya, so nothing its resend hears can prove otherwise: it is never released,
only recorded or, past Rivya's retry window, counted as spent.

Every send happens under the create's lease and ends before it does: whoever holds the lease is
the only one sending the create. If Redis stops answering after Rivya did, the closing write is
finished in the background (``unfinished_writes.py``), since only this process knows what Rivya
said.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass

from app import context
from app.clock import Clock
from app.domain.creates import PendingCreate, TooLate
from app.domain.settlement import PollSchedule
from app.domain.tasks import TaskRecord
from app.errors import StoreUnavailable, UpstreamTimeout
from app.rivya_schemas import RivyaTask
from app.services.repeat_waits import RepeatWaits
from app.services.settlement import unpriced_anomaly
from app.services.unfinished_writes import UnfinishedWrites
from app.store.admission import AdmissionStore
from app.store.tasks import TaskStore
from app.upstream.client import RivyaClient
from app.upstream.failures import UpstreamFailure
from app.upstream_errors import error_for

log = logging.getLogger("app.tasks")

# A send stops this long before its lease ends, so the lease is never lost mid-send.
LEASE_MARGIN_SECONDS = 2.0
# How long a closing write this process alone can make is retried while Redis is away.
UNFINISHED_WRITE_SECONDS = 86_400.0


@dataclass(frozen=True)
class Made:
    """Rivya made the task (or, for a resend, had made it): recorded."""

    record: TaskRecord
    first_poll_in: float  # when the task's first poll is due, decided once, here


@dataclass(frozen=True)
class NotMade:
    """Rivya's own verdict refused the create: its reservation is released (or being)."""

    failure: UpstreamFailure


@dataclass(frozen=True)
class Unknown:
    """Rivya may have made the task: the reservation and the claim are kept, and a retry with
    the create's ``client_request_id`` learns the outcome."""

    failure: UpstreamFailure


Forwarded = Made | NotMade | Unknown


class Forwarder:
    def __init__(
        self,
        admission: AdmissionStore,
        tasks: TaskStore,
        upstream: RivyaClient,
        clock: Clock,
        unfinished: UnfinishedWrites,
        repeats: RepeatWaits,
        *,
        schedule: PollSchedule,
    ) -> None:
        self._repeats = repeats
        self._admission, self._tasks, self._upstream = admission, tasks, upstream
        self._clock, self._schedule, self._unfinished = clock, schedule, unfinished
        self._rng = random.Random()
        self._send_within = max(admission.lease_seconds - LEASE_MARGIN_SECONDS, 1.0)

    async def forward(
        self, create: PendingCreate, *, resend: bool = False, retry_in: float = 0
    ) -> Forwarded:
        """Send the create and close it. ``resend``: it may have been sent before. A create
        left unknown is offered to the next taker ``retry_in`` seconds from now."""
        try:
            return await self._forward(create, resend, retry_in)
        finally:
            # Its repeats waiting in this process learn the outcome now, not at their next look.
            self._repeats.closed(create.team, create.client_request_id)

    async def _forward(self, create: PendingCreate, resend: bool, retry_in: float) -> Forwarded:
        try:
            task = await self._send(create, sent_before=resend)
        except UpstreamFailure as failure:
            if failure.may_have_acted:
                await self._keep(create, retry_in)
                return Unknown(failure)
            if await self._release(create, failure):
                return NotMade(failure)
            # Rivya refused it, but Redis did not hear so yet: until the release lands, a
            # resolver could still send it, so to the caller its outcome is not final.
            return Unknown(failure)
        context.note_task(task.id)
        reserved = task.held(create.credits)  # Rivya's figure if valid, else the catalogue's
        record = TaskRecord(
            team=create.team,
            upstream=task,
            client_request_id=create.client_request_id,
            key_id=create.key_id,
            # Ended already (a resend found it finished): settled as record.lua settles it.
            charged=(reserved if task.charge is None else task.charge)
            if task.is_terminal
            else None,
        )
        first_poll_in = self._schedule.first_poll(self._rng)
        write = functools.partial(self._write, record, create, first_poll_in, reserved)
        try:
            await write()
        except StoreUnavailable:
            # Rivya made the task: the caller gets it, and the record is written once Redis is
            # back (or, should this process die first, by a resolver's resend of the create).
            log.warning("task made but not yet recorded", extra={"task_id": task.id})
            # Not bound by the lease: recording is idempotent, and only this process knows the
            # task (past Rivya's window no resend could find it again).
            self._unfinished.start("record a task", write, within_seconds=UNFINISHED_WRITE_SECONDS)
        # No line of its own: the request's access log line names the task and its credits.
        return Made(record, first_poll_in)

    async def _write(
        self, record: TaskRecord, create: PendingCreate, first_poll_in: float, reserved: int
    ) -> None:
        """Record the task Rivya made (record.lua), and say so if the books see an anomaly."""
        started = time.monotonic()
        recorded = await self._tasks.record(
            record, create, first_poll_in=first_poll_in, reserved=reserved
        )
        context.note_stage("record", time.monotonic() - started)
        task = record.upstream
        if recorded.unreserved:
            log.error(
                "money anomaly: a task was recorded without a live reservation; charged as "
                "new spend",
                extra={"team": create.team, "task_id": task.id, "credits": reserved},
            )
        if recorded.unpriced:
            unpriced_anomaly(create.team, task)

    async def _send(self, create: PendingCreate, *, sent_before: bool) -> RivyaTask:
        started = time.monotonic()
        try:
            # Done before the lease ends, and with it our right to send: an attempt still
            # waiting then is stopped, its outcome unknown (the client's own timeout).
            return await self._upstream.create_generation(
                create.body,
                idempotency_key=create.upstream_key,
                sent_before=sent_before,
                within=self._send_within,
            )
        finally:
            context.note_stage("upstream", time.monotonic() - started)

    async def _keep(self, create: PendingCreate, retry_in: float) -> None:
        """Rivya may have made the task. Keep the reservation and the claim, and let go of the
        lease so the client's retry (same key) resends it with the same upstream key."""
        log.warning(
            "create outcome unknown; reservation kept",
            extra={"team": create.team, "reservation": create.reservation_id},
        )
        # If Redis is away, the lease lapses by itself and a resolver takes it from there.
        with contextlib.suppress(StoreUnavailable):
            await self._admission.unlease(create, after_seconds=retry_in)

    async def _release(self, create: PendingCreate, failure: UpstreamFailure) -> bool:
        """Release a create Rivya refused; False if Redis could not be told yet."""
        remember = error_for(failure).to_dict() if failure.is_about_the_request else None

        async def release() -> int:
            return await self._admission.release(create, remember=remember)

        try:
            await release()
        except StoreUnavailable:
            # Rivya refused it, so it must be released, never resent: only this process knows.
            # A release after the lease lapsed and a resolver took the create over is refused
            # by its owner check, harmlessly.
            self._unfinished.start(
                "release a refused create", release, within_seconds=UNFINISHED_WRITE_SECONDS
            )
            return False
        return True


def unconfirmed_create(*, headers: dict[str, str] | None = None) -> UpstreamTimeout:
    """The answer for a create whose outcome could not be learned in time."""
    return UpstreamTimeout(
        "Rivya never confirmed this create; its credits are counted as spent.", headers=headers
    )


class Resolver:
    """Finishes creates whose outcome is unknown and that nobody is resolving: resends them with
    their upstream key (Rivya returns the task if it made one) while that key is still inside
    Rivya's retry window; past it, counts their credits as spent, never as refunded.

    Each create is leased just before it is sent (the lease's time is Redis's). The process
    sends at most ``concurrency`` at once, and one team at most ``per_team`` of them: a team
    whose resends hang cannot hold every slot."""

    def __init__(
        self,
        admission: AdmissionStore,
        forwarder: Forwarder,
        *,
        backoff: float = 5.0,
        concurrency: int = 8,
        per_team: int = 4,
    ) -> None:
        self._admission, self._forwarder = admission, forwarder
        self._backoff = backoff
        self._limit = asyncio.Semaphore(concurrency)
        self._per_team = per_team

    async def run_once(self, team: str, *, start_until: float = math.inf) -> int:
        """Resolve the team's abandoned creates; returns how many were tried. None is started
        after ``start_until`` (``time.monotonic()``): they wait for the team's next pass."""
        pending = await self._admission.pending(team)
        team_limit = asyncio.Semaphore(self._per_team)
        tried = await asyncio.gather(
            *(self._resolve(team, p.reservation_id, team_limit, start_until) for p in pending)
        )
        return sum(tried)

    async def _resolve(
        self, team: str, reservation_id: str, team_limit: asyncio.Semaphore, start_until: float
    ) -> int:
        async with team_limit, self._limit:
            if time.monotonic() > start_until:
                return 0
            lease = await self._admission.lease(team, reservation_id, owner=uuid.uuid4().hex)
            if lease is None:  # someone is forwarding it, or it just closed
                return 0
            if isinstance(lease, TooLate):
                await self.abandon(lease.create)
                return 1
            outcome = await self._forwarder.forward(lease, resend=True, retry_in=self._backoff)
            if not isinstance(outcome, Made):
                log.warning(
                    "resolving a create failed",
                    extra={
                        "team": team,
                        "reservation": reservation_id,
                        "reason": outcome.failure.why.value,
                    },
                )
            return 1

    async def abandon(self, create: PendingCreate) -> None:
        spent = await self._admission.abandon(create, unconfirmed_create().to_dict())
        if spent is not None:
            log.error(
                "create abandoned as spent: its outcome could not be learned",
                extra={"team": create.team, "reservation": create.reservation_id, "credits": spent},
            )
