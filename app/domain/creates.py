"""A create's own types, shared by the services that decide on it and the store that keeps it:
the upstream create waiting for its outcome, and what admission decided about it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from app.domain.rates import RateState
from app.domain.refusals import Refusal
from app.domain.teams import BudgetPeriod
from app.periods import PeriodStamps


@dataclass(frozen=True)
class TokenLimits:
    """What admission checks for a create made with a browser token, besides the team's."""

    issued_at_ms: int  # revoked if at or before the team's or the subject's "not before"
    subject_rate_per_minute: int | None  # the team's per_subject_rate_limit_per_minute
    max_credits: int | None  # the token's own cap


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
    subject: str | None = None  # a browser token's end user: only it sees the task
    token_id: str | None = None  # the browser token whose own credit cap it counts against

    @property
    def claim_id(self) -> str:
        """What the idempotency claim is keyed by: the client_request_id, within the subject
        for a browser token (end users of one team never see each other's requests)."""
        crid = self.client_request_id or ""
        if not crid or self.subject is None:
            return crid
        # \x1e: no client_request_id can hold it, so no team key's id is ever a subject's.
        return f"\x1e{self.subject}\x1e{crid}"

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "ukey": self.upstream_key,
                # A string, so Redis's cjson keeps it byte for byte: every resend of the create
                # is the very request Rivya first saw.
                "body": orjson.dumps(self.body).decode(),
                "credits": self.credits,
                "stamps": self.stamps.encode(),
                "crid": self.client_request_id or "",
                "key_id": self.key_id or "",
                "created_ms": self.created_ms,
                "sub": self.subject or "",
                "tok": self.token_id or "",
            }
        ).decode()

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
            subject=data.get("sub") or None,
            token_id=data.get("tok") or None,
        )


@dataclass(frozen=True)
class Admitted:
    create: PendingCreate
    budget_remaining: int | None
    rate: RateState | None  # None for a takeover: nothing new was admitted
    # A takeover: this request took over an earlier create of the same key whose outcome was
    # lost, and must resend it (it may already exist at Rivya).
    takeover: bool = False
    budget: int | None = None  # the budget it was admitted under (None: none)
    budget_period: BudgetPeriod = "month"  # the period the script enforced (in Redis)

    @property
    def reservation_id(self) -> str:
        return self.create.reservation_id

    @property
    def stamps(self) -> PeriodStamps:
        return self.create.stamps


@dataclass(frozen=True)
class Repeat:
    """The claim already answers this request: its task, or the error it got, or a conflict."""

    kind: Literal["replay", "conflict", "remembered", "in_progress", "too_late"]
    task_id: str | None = None
    error: dict[str, Any] | None = None
    retry_after_ms: int = 0
    create: PendingCreate | None = None  # too_late: the lost create, to be given up


Decision = Admitted | Refusal | Repeat


@dataclass(frozen=True)
class TooLate:
    """A lost create too old to resend inside Rivya's window: to be given up, not resent."""

    create: PendingCreate


Lease = PendingCreate | TooLate | None
