"""Admission of a create: reserve its credits under the team's limits, or refuse it clearly.

The decision itself is one Lua script (``store/lua/admit.lua``); this module picks the period
stamps, turns refusals into the contract's errors, and formats the IETF RateLimit headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time

from app import context
from app.auth.tokens import BrowserToken
from app.clock import Clock
from app.domain.creates import Admitted, PendingCreate, Repeat, TokenLimits
from app.domain.refusals import Asked, Refusal
from app.domain.teams import Team
from app.errors import StoreUnavailable
from app.metrics import Metrics
from app.periods import stamps_at
from app.services.generations import GenerationRequest
from app.services.unfinished_writes import UnfinishedWrites
from app.store.admission import AdmissionStore

log = logging.getLogger("app.admission")

# A cancel keeps trying while the admission's lease is certainly its own: until this share of
# the lease (counted from before the admission was sent) has passed.
CANCEL_SHARE_OF_LEASE = 0.8


class Admission:
    def __init__(
        self,
        store: AdmissionStore,
        clock: Clock,
        unfinished: UnfinishedWrites,
        metrics: Metrics,
        *,
        in_flight_retry_seconds: int,
        cancel_wait_seconds: float,
    ) -> None:
        self._store, self._clock, self._unfinished = store, clock, unfinished
        self._metrics = metrics
        self._in_flight_retry = in_flight_retry_seconds
        self._cancel_wait = cancel_wait_seconds

    async def decide(
        self,
        team: Team,
        request: GenerationRequest,
        *,
        key_id: str | None,
        token: BrowserToken | None = None,
    ) -> Admitted | Repeat:
        """Reserve the request's credits under the team's limits (and a browser token's: its
        subject's rate, its own cap) and claim its idempotency key, or recognise a repeat.
        Refusals are raised as the contract's errors."""
        now = self._clock.now()
        create = _pending_create(team, request, key_id=key_id, token=token, now=now)
        limits = _token_limits(team, token) if token is not None else None
        sent_at = time.monotonic()
        try:
            decision = await self._store.admit(
                create, fingerprint=request.fingerprint(), token=limits
            )
            context.note_stage("admission", time.monotonic() - sent_at)
        except StoreUnavailable as lost:
            if not lost.may_have_run:
                raise StoreUnavailable(
                    "Redis could not be reached; this request was not admitted and sent nothing "
                    "upstream. Retry soon."
                ) from lost
            raise await self._cancel(create, sent_at) from lost
        if isinstance(decision, Refusal):
            if decision.counted_by_script:  # in the period's books, by the script that refused
                context.note_refusal_counted()
            raise decision.error(Asked(team, create.credits, now, self._in_flight_retry))
        if isinstance(decision, Admitted) and not decision.takeover:
            context.note_credits(create.credits)
        return decision

    async def _cancel(self, create: PendingCreate, sent_at: float) -> StoreUnavailable:
        """The admission's answer was lost, so this request never sends the create; but Redis
        may have run the script (or may yet). Undo it by its owner token, so that it is never
        sent by anyone and its credits come back, before saying so. Real time (monotonic):
        the lease, had the script run, began no earlier than ``sent_at``."""
        cancel_until = sent_at + self._store.lease_seconds * CANCEL_SHARE_OF_LEASE
        job = self._unfinished.start(
            "cancel an admission whose answer was lost",
            lambda: self._store.cancel(create),
            within_seconds=max(cancel_until - time.monotonic(), 0),
        )
        done, _ = await asyncio.wait({job}, timeout=self._cancel_wait)
        outcome = job.result() if done else None
        if outcome in ("cancelled", "void"):
            return StoreUnavailable(
                "Redis did not answer in time; this create was not admitted and will never be "
                "sent upstream. Retry soon."
            )
        if outcome == "other" and create.client_request_id:
            return StoreUnavailable(
                "Redis did not answer in time. This request sent nothing, but its "
                f"client_request_id {create.client_request_id!r} names a create of an earlier "
                "request that may be made, or already is: retry with it to learn the outcome.",
                extra={"client_request_id": create.client_request_id},
            )
        if outcome == "taken":  # cannot happen within the lease; said loudly if it ever does
            log.error("a lost admission was taken over before it could be cancelled")
        log.warning(
            "admission answer lost; cancelling in the background",
            extra={"team": create.team, "reservation": create.reservation_id},
        )
        crid = create.client_request_id
        return StoreUnavailable(
            "Redis stopped answering while admitting this create. It was not sent, and this "
            "gateway is cancelling it; retry with the same client_request_id to learn the outcome.",
            extra={"client_request_id": crid} if crid else None,
        )


def _pending_create(
    team: Team,
    request: GenerationRequest,
    *,
    key_id: str | None,
    token: BrowserToken | None,
    now: float,
) -> PendingCreate:
    """The create as admission holds it until it is sent: a fresh reservation, the key Rivya
    will see, the body, and who asked (a key, or a browser token's user)."""
    reservation_id = f"res_{secrets.token_hex(16)}"
    return PendingCreate(
        team=team.tenant,
        reservation_id=reservation_id,
        upstream_key=upstream_key(team.tenant, request.client_request_id, reservation_id),
        body=request.rivya_body(),
        credits=request.model.base_credits,
        stamps=stamps_at(now),
        client_request_id=request.client_request_id,
        key_id=key_id,
        created_ms=int(now * 1000),
        owner=secrets.token_hex(16),
        subject=token.subject if token else None,
        # Every token's spend is kept (its usage shows it); its cap, if any, bounds it.
        token_id=token.token_id if token else None,
    )


def _token_limits(team: Team, token: BrowserToken) -> TokenLimits:
    """What the admission script checks of a browser token besides the team's limits."""
    return TokenLimits(
        issued_at_ms=token.issued_at_ms,
        subject_rate_per_minute=team.per_subject_rate_limit_per_minute,
        max_credits=token.max_credits,
    )


def upstream_key(team: str, client_request_id: str | None, reservation_id: str) -> str:
    """The Idempotency-Key Rivya sees: derived from (team, client key) and the claim it belongs
    to, so every resend of one create carries it, while a client key reused after its claim
    expired can never be mistaken upstream for the old create."""
    material = f"{team}\x00{client_request_id or ''}\x00{reservation_id}"
    return "gw_" + hashlib.sha256(material.encode()).hexdigest()[:40]
