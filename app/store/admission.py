"""Admission of a create: typed wrappers over ``admit.lua`` (claim + budget + rate + in-flight,
one round trip), ``cancel.lua``, ``release.lua``, ``lease_create.lua`` and ``abandon.lua``."""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.domain.creates import (
    Decision,
    Lease,
    PendingCreate,
    TokenLimits,
    TooLate,
)
from app.store.admit_answers import decision_of
from app.store.contracts import creates as c
from app.store.keyspace import KeySpace, key_spend_keys, spend_keys
from app.store.redis import store_errors
from app.store.schedule import DueTeams
from app.store.scripts import Scripts
from app.store.tenant_keys import tenant_keys

# What cancel.lua did: see its header.
CancelOutcome = Literal["cancelled", "void", "taken", "other"]


# Day, week and month spend hashes outlive their period long enough for reports.
SPEND_RETENTION_SECONDS = 400 * 86_400


class AdmissionStore:
    def __init__(
        self,
        redis: Redis,
        keys: KeySpace,
        scripts: Scripts,
        clock: Clock,
        due: DueTeams,
        *,
        claim_ttl_ms: int,
        lease_ms: int,
        resend_window_ms: int,
        first_look_ms: int = 2000,
        alert_thresholds: tuple[int, ...] = (),
    ) -> None:
        self._redis, self._keys, self._scripts, self._clock = redis, keys, scripts, clock
        self._due = due
        self._first_look_ms = first_look_ms  # the soonest a new task's first poll comes
        self._claim_ttl_ms, self._lease_ms = claim_ttl_ms, lease_ms
        # The resend cut-off, decided here only: a lost create is resent only while the resend
        # can finish inside Rivya's window, so none starts later than a lease before its end.
        self._last_resend_ms = max(resend_window_ms - lease_ms, 0)
        self._alert_thresholds = ",".join(str(t) for t in alert_thresholds)

    @property
    def lease_seconds(self) -> float:
        return self._lease_ms / 1000

    async def admit(
        self, create: PendingCreate, *, fingerprint: str, token: TokenLimits | None = None
    ) -> Decision:
        """admit.lua: claim, budget, rate and in-flight cap decided at once (one round trip)."""
        with self._due.scheduling(create.team), store_errors():
            reply = await self._scripts.admit(
                keys=self._admit_keys(create), args=self._admit_args(create, fingerprint, token)
            )
        kind, *values = [str(v) for v in reply]
        # The team is indexed as due when the script says so: a new create's first look, a
        # takeover's lease end, a budget refusal's alert.
        index_at = {"ok": 5, "resolve": 2, "budget": 2}.get(kind)
        if index_at is not None:
            await self._due.index_at(create.team, int(values[index_at]))
        return decision_of(create, kind, values)

    def _admit_keys(self, create: PendingCreate) -> c.AdmitKeys:
        k, team = self._keys, create.team
        tenant = tenant_keys(k, team)
        return c.AdmitKeys(
            team=tenant.team,
            rate=tenant.rate,
            reservations=tenant.reservations,
            periods=spend_keys(k, team, create.stamps),
            claim=k.idempotency(team, create.claim_id),
            pending=tenant.pending_creates,
            cancel_mark=k.cancelled(team, create.reservation_id),
            active_keys=tenant.active_keys,
            ledger=tenant.ledger,
            token_revocations=tenant.token_revocations,
            subject_rate=k.subject_rate(team, create.subject or ""),
            token_credits=self._token_credits(create),
            schedule_marker=tenant.scheduled,
            outbox=tenant.outbox,
            key_expiry=tenant.key_expiry,
            key_budgets=tenant.key_budgets,
            key_periods=self._key_periods(create),
        )

    def _admit_args(
        self, create: PendingCreate, fingerprint: str, token: TokenLimits | None
    ) -> c.AdmitArgs:
        return c.AdmitArgs(
            time=script_time(self._clock),
            credits=create.credits,
            reservation_id=create.reservation_id,
            stamps=create.stamps.encode(),
            period_ttl_seconds=SPEND_RETENTION_SECONDS,
            client_request_id=create.claim_id,
            fingerprint=fingerprint,
            claim_ttl_ms=self._claim_ttl_ms,
            create=create.to_json(),
            lease_ms=self._lease_ms,
            last_resend_ms=self._last_resend_ms,
            owner=create.owner,
            key_id=create.key_id or "",
            generation=create.team.partition("@")[2],
            model=str(create.body.get("model", "")),
            alert_thresholds=self._alert_thresholds,
            subject=create.subject or "",
            token_issued_at_ms=token.issued_at_ms if token else 0,
            subject_per_minute=(token.subject_rate_per_minute or 0) if token else 0,
            token_cap=_or_none(token.max_credits if token else None),
            token_id=create.token_id or "",
            first_look_ms=self._first_look_ms,
        )

    async def cancel(self, create: PendingCreate) -> CancelOutcome:
        """Undo an admission whose answer was lost, by its owner: see ``cancel.lua``."""
        with store_errors():
            held = self._reservation_keys(create)
            outcome = await self._scripts.cancel(
                keys=c.CancelKeys(
                    reservations=held.reservations,
                    periods=held.periods,
                    claim=held.claim,
                    pending=held.pending,
                    cancel_mark=self._keys.cancelled(create.team, create.reservation_id),
                    ledger=held.ledger,
                    token_credits=held.token_credits,
                    key_periods=held.key_periods,
                ),
                args=c.CancelArgs(
                    reservation_id=create.reservation_id,
                    client_request_id=create.claim_id,
                    owner=create.owner,
                    # Far longer than an admission could be delayed in Redis or on the wire.
                    mark_ms=self._claim_ttl_ms,
                ),
            )
        result = str(outcome)
        assert result in ("cancelled", "void", "taken", "other"), result
        return cast(CancelOutcome, result)

    async def release(self, create: PendingCreate, *, remember: dict[str, Any] | None) -> int:
        """Give back a definitely refused create's reservation; remember the error for replays
        (``remember``) or forget the claim so a retry runs again. Returns the credits freed."""
        with store_errors():
            released = await self._scripts.release(
                keys=self._reservation_keys(create),
                args=c.ReleaseArgs(
                    reservation_id=create.reservation_id,
                    client_request_id=create.claim_id,
                    error=json.dumps(remember) if remember else "",
                    owner=create.owner,
                ),
            )
        return int(released)

    async def abandon(self, create: PendingCreate, error: dict[str, Any]) -> int | None:
        """Count an unresolvable create as spent and close it: the credits counted, None if it
        was already closed."""
        k, team = self._keys, create.team
        with self._due.scheduling(team), store_errors():
            held = self._reservation_keys(create)
            spent, index_at = await self._scripts.abandon(
                keys=c.AbandonKeys(
                    reservations=held.reservations,
                    periods=held.periods,
                    claim=held.claim,
                    pending=held.pending,
                    abandoned_mark=k.abandoned(team, create.reservation_id),
                    ledger=held.ledger,
                    token_credits=held.token_credits,
                    team=k.team(team.partition("@")[0]),
                    outbox=k.outbox(team),
                    schedule_marker=k.scheduled(team),
                    key_periods=held.key_periods,
                    abandoned_key=k.abandoned_key(team, create.reservation_id),
                ),
                args=c.AbandonArgs(
                    reservation_id=create.reservation_id,
                    client_request_id=create.claim_id,
                    error=json.dumps(error),
                    mark_ms=self._claim_ttl_ms,
                    stamps=create.stamps.encode(),
                    alert_thresholds=self._alert_thresholds,
                    time=script_time(self._clock),
                ),
            )
        await self._due.index_at(team, int(index_at))
        return None if int(spent) < 0 else int(spent)

    async def lease(self, team: str, reservation_id: str, *, owner: str) -> Lease:
        """Take the lease on a pending create to resend it. ``None``: someone holds it, or it is
        closed; ``too_late``: it is too old to resend inside Rivya's window (not taken)."""
        with self._due.scheduling(team), store_errors():
            reply = await self._scripts.lease_create(
                keys=self._lease_keys(team),
                args=c.LeaseCreateArgs(
                    reservation_id=reservation_id,
                    time=script_time(self._clock),
                    action="take",
                    owner=owner,
                    ms=self._lease_ms,
                    last_resend_ms=self._last_resend_ms,
                ),
            )
        if not reply:
            return None
        kind, text = (str(v) for v in reply)
        create = PendingCreate.from_json(team, reservation_id, text)
        return create if kind == "taken" else TooLate(create)

    async def unlease(self, create: PendingCreate, *, after_seconds: float = 0) -> None:
        """Hand back the lease on a create still unknown: the next taker may resend it
        ``after_seconds`` from now (at once by default, so the client's own retry resolves it)."""
        team = create.team
        with self._due.scheduling(create.team), store_errors():
            reply = await self._scripts.lease_create(
                keys=self._lease_keys(team),
                args=c.LeaseCreateArgs(
                    reservation_id=create.reservation_id,
                    time=script_time(self._clock),
                    action="hand_back",
                    owner=create.owner,
                    ms=int(after_seconds * 1000),
                    last_resend_ms=0,
                ),
            )
        if reply:
            await self._due.index_at(team, int(reply[1]))

    async def pending(self, team: str) -> list[PendingCreate]:
        with store_errors():
            raw = await self._redis.hgetall(self._keys.pending_creates(team))
        return [PendingCreate.from_json(team, str(k), str(v)) for k, v in raw.items()]

    def _reservation_keys(self, create: PendingCreate) -> c.ReservationKeys:
        k, team = self._keys, create.team
        return c.ReservationKeys(
            reservations=k.reservations(team),
            periods=spend_keys(k, team, create.stamps),
            claim=k.idempotency(team, create.claim_id),
            pending=k.pending_creates(team),
            ledger=k.ledger(team),
            token_credits=self._token_credits(create),
            key_periods=self._key_periods(create),
        )

    def _lease_keys(self, team: str) -> c.LeaseCreateKeys:
        return c.LeaseCreateKeys(
            pending=self._keys.pending_creates(team), schedule_marker=self._keys.scheduled(team)
        )

    def _token_credits(self, create: PendingCreate) -> str:
        # Always a key of the team's slot; used only when the create counts against a token.
        return self._keys.token_credits(create.team, create.token_id or "-")

    def _key_periods(self, create: PendingCreate) -> tuple[str, str, str, str]:
        return key_spend_keys(self._keys, create.team, create.key_id or "", create.stamps)


def _or_none(value: int | None) -> int:
    return -1 if value is None else value
