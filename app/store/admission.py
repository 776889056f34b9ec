"""Admission of a create: typed wrappers over ``admit.lua`` (claim + budget + rate + in-flight,
one round trip), ``release.lua``, ``lease_create.lua`` and ``abandon.lua``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from app.periods import PeriodStamps
from app.store.keys import KeySpace
from app.store.redis import store_errors
from app.store.scripts import Scripts

# Day, week and month spend hashes outlive their period long enough for reports.
SPEND_RETENTION_SECONDS = 400 * 86_400

Refusal = Literal["budget", "rate", "in_flight", "no_team"]


@dataclass(frozen=True)
class RateState:
    """What the IETF RateLimit headers report: a bucket of ``burst`` creates per ``window``."""

    burst: int
    window_seconds: int
    remaining: int
    full_in_seconds: int


@dataclass(frozen=True)
class PendingCreate:
    """An upstream create that holds a reservation and whose outcome is not known yet: enough
    to send it again, with the same upstream key, from any replica."""

    team: str
    reservation_id: str
    upstream_key: str
    body: dict[str, Any]
    credits: int
    stamps: PeriodStamps
    client_request_id: str | None
    key_id: str | None
    created_ms: int
    # Whose lease this copy of the create stands for: only its holder may hand it back or
    # release it. Set by whoever takes the lease; not part of the create itself.
    owner: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "ukey": self.upstream_key,
                # A string, so Redis's cjson keeps it byte for byte: every resend of the create
                # is the very request Rivya first saw.
                "body": json.dumps(self.body, separators=(",", ":")),
                "credits": self.credits,
                "stamps": self.stamps.encode(),
                "crid": self.client_request_id or "",
                "key_id": self.key_id or "",
                "created_ms": self.created_ms,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, team: str, reservation_id: str, text: str) -> PendingCreate:
        data = json.loads(text)
        return cls(
            team=team,
            reservation_id=reservation_id,
            upstream_key=data["ukey"],
            body=json.loads(data["body"]),
            credits=int(data["credits"]),
            stamps=PeriodStamps.decode(data["stamps"]),
            client_request_id=data["crid"] or None,
            key_id=data["key_id"] or None,
            created_ms=int(data["created_ms"]),
            owner=str(data.get("lease_owner", "")),
        )


@dataclass(frozen=True)
class Admitted:
    create: PendingCreate
    budget_remaining: int | None
    rate: RateState | None  # None for a takeover: nothing new was admitted
    # A takeover: this request took over an earlier create of the same key whose outcome was
    # lost, and must resend it (it may already exist at Rivya).
    takeover: bool = False

    @property
    def reservation_id(self) -> str:
        return self.create.reservation_id

    @property
    def stamps(self) -> PeriodStamps:
        return self.create.stamps


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    budget_remaining: int = 0
    budget: int = 0
    retry_after_ms: int = 0
    rate: RateState | None = None
    in_flight: int = 0
    max_in_flight: int = 0


@dataclass(frozen=True)
class Repeat:
    """The claim already answers this request: its task, or the error it got, or a conflict."""

    kind: Literal["replay", "conflict", "remembered", "in_progress", "too_late"]
    task_id: str | None = None
    error: dict[str, Any] | None = None
    retry_after_ms: int = 0
    create: PendingCreate | None = None  # too_late: the lost create, to be given up


Decision = Admitted | Refused | Repeat


def spend_keys(keys: KeySpace, team_id: str, stamps: PeriodStamps) -> list[str]:
    return [keys.spend(team_id, stamp) for stamp in stamps.all()]


class AdmissionStore:
    def __init__(
        self,
        redis: Redis,
        keys: KeySpace,
        scripts: Scripts,
        *,
        claim_ttl_ms: int,
        lease_ms: int,
        resend_window_ms: int,
    ) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts
        self._claim_ttl_ms, self._lease_ms = claim_ttl_ms, lease_ms
        # A lost create is resent only while the resend can finish inside Rivya's window.
        self._last_resend_ms = max(resend_window_ms - lease_ms, 0)

    async def admit(self, create: PendingCreate, *, fingerprint: str, now_us: int) -> Decision:
        k, team = self._keys, create.team
        crid = create.client_request_id or ""
        async with store_errors():
            reply = await self._scripts.admit(
                keys=[
                    k.team(team),
                    k.rate(team),
                    k.reservations(team),
                    *spend_keys(k, team, create.stamps),
                    k.idempotency(team, crid),
                    k.pending_creates(team),
                ],
                args=[
                    now_us,
                    create.credits,
                    create.reservation_id,
                    create.stamps.encode(),
                    SPEND_RETENTION_SECONDS,
                    crid,
                    fingerprint,
                    self._claim_ttl_ms,
                    create.to_json(),
                    self._lease_ms,
                    self._last_resend_ms,
                    create.owner,
                ],
            )
        kind, *values = [str(v) for v in reply]
        if kind == "ok":
            remaining, rate_left, full_in_ms, burst, window_ms = (int(v) for v in values)
            return Admitted(
                create=create,
                budget_remaining=None if remaining < 0 else remaining,
                rate=RateState(burst, _seconds(window_ms), rate_left, _seconds(full_in_ms)),
            )
        if kind == "resolve":
            reservation_id, text = values
            earlier = PendingCreate.from_json(team, reservation_id, text)
            return Admitted(create=earlier, budget_remaining=None, rate=None, takeover=True)
        if kind == "too_late":
            reservation_id, text = values
            lost = PendingCreate.from_json(team, reservation_id, text)
            return Repeat("too_late", create=lost)
        if kind == "replay":
            return Repeat("replay", task_id=values[0])
        if kind == "conflict":
            return Repeat("conflict", task_id=values[0] or None)
        if kind == "remembered":
            return Repeat("remembered", error=json.loads(values[0]))
        if kind == "in_progress":
            return Repeat("in_progress", retry_after_ms=int(values[0]))
        numbers = [int(v) for v in values]
        if kind == "budget":
            return Refused("budget", budget_remaining=max(numbers[0], 0), budget=numbers[1])
        if kind == "rate":
            retry_ms, burst, window_ms = numbers
            state = RateState(burst, _seconds(window_ms), 0, _seconds(retry_ms))
            return Refused("rate", retry_after_ms=retry_ms, rate=state)
        if kind == "in_flight":
            in_flight, most, rate_left, full_in_ms, burst, window_ms = numbers
            state = RateState(burst, _seconds(window_ms), rate_left, _seconds(full_in_ms))
            return Refused("in_flight", in_flight=in_flight, max_in_flight=most, rate=state)
        return Refused("no_team")

    async def release(self, create: PendingCreate, *, remember: dict[str, Any] | None) -> int:
        """Give back a definitely refused create's reservation; remember the error for replays
        (``remember``) or forget the claim so a retry runs again. Returns the credits freed."""
        async with store_errors():
            released = await self._scripts.release(
                keys=self._settle_keys(create),
                args=[
                    create.reservation_id,
                    create.client_request_id or "",
                    json.dumps(remember) if remember else "",
                    create.owner,
                ],
            )
        return int(released)

    async def abandon(self, create: PendingCreate, error: dict[str, Any]) -> int:
        """Count an unresolvable create as spent and close it; -1 if it was already closed."""
        async with store_errors():
            spent = await self._scripts.abandon(
                keys=self._settle_keys(create),
                args=[create.reservation_id, create.client_request_id or "", json.dumps(error)],
            )
        return int(spent)

    async def lease(
        self, team: str, reservation_id: str, *, now_ms: int, owner: str
    ) -> PendingCreate | None:
        """Take the lease on a pending create (None: someone holds it, or it is closed)."""
        async with store_errors():
            text = await self._scripts.lease_create(
                keys=[self._keys.pending_creates(team)],
                args=[reservation_id, now_ms, now_ms + self._lease_ms, "take", owner],
            )
        return PendingCreate.from_json(team, reservation_id, str(text)) if text else None

    async def unlease(self, create: PendingCreate, *, until_ms: int = 0) -> None:
        """Hand back the lease on a create still unknown: the next taker may resend it from
        ``until_ms`` (at once by default, so the client's own retry resolves it)."""
        async with store_errors():
            await self._scripts.lease_create(
                keys=[self._keys.pending_creates(create.team)],
                args=[create.reservation_id, 0, until_ms, "hand_back", create.owner],
            )

    async def pending(self, team: str) -> list[PendingCreate]:
        async with store_errors():
            raw = await self._redis.hgetall(self._keys.pending_creates(team))
        return [PendingCreate.from_json(team, str(k), str(v)) for k, v in raw.items()]

    def _settle_keys(self, create: PendingCreate) -> list[str]:
        k, team = self._keys, create.team
        return [
            k.reservations(team),
            *spend_keys(k, team, create.stamps),
            k.idempotency(team, create.client_request_id or ""),
            k.pending_creates(team),
        ]


def _seconds(ms: int) -> int:
    return max(0, -(-ms // 1000))  # ceiling: never tell a client to come back too early
