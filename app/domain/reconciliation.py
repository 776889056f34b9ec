"""The reconciliation with Rivya's balance: the baseline it counts from, and the holds in
flight when it was taken (placed as they settle)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

# A baseline's hold: (tenant, reservation or task id, credits, the create's idempotency
# claim: "" for a task's hold).
Hold = tuple[str, str, int, str]


@dataclass(frozen=True)
class InFlight:
    """What the teams hold at one moment (Redis's clock): every hold, and how many of them are
    creates not yet answered by Rivya."""

    at_ms: int
    holds: tuple[Hold, ...]  # sorted
    pending_creates: int


@dataclass(frozen=True)
class Placed:
    """What became of a baseline's holds: the credits held still or not placeable (the drift
    may be off by that much), the drift the newly placed ones explain, and which they are."""

    uncertain: int
    explained: int
    placed: tuple[Hold, ...]


@dataclass(frozen=True)
class Baseline:
    """Rivya's balance and the gateway's books (summed over every team) at one moment."""

    rivya_credits: int
    gateway_spent: int
    gateway_reserved: int
    set_at_ms: int
    # Credits reserved when it was taken, which Rivya may or may not have held then: the drift
    # may be off by up to what of them is still held (``uncertain``), without anything wrong.
    uncertain_credits: int = 0
    # Set when Redis lost its data and a replica that remembered this baseline wrote it back:
    # the drift from it then counts the credits whose books were lost.
    restored_at_ms: int | None = None
    # The holds it could not place when it was taken and has not placed since
    # (store/baseline_holds.py): the uncertainty ends as they settle and are placed. Not
    # ``listed`` (too many to list, or a baseline of an earlier version): it stays.
    uncertain: tuple[Hold, ...] = ()
    listed: bool = False
    # The drift the holds placed so far explain (kept here, so a task or claim that expires
    # later changes nothing).
    explained_credits: int = 0
    # Which upstream it was taken against (a fingerprint of RIVYA_BASE_URL and the org key).
    upstream: str | None = None
    # When Rivya read the balance, by its own clock (its answer's Date, to the second): the
    # holds are placed against it.
    rivya_time_ms: int | None = None

    @classmethod
    def from_json(cls, raw: str | bytes) -> Baseline:
        fields: dict[str, Any] = json.loads(raw)
        fields["uncertain"] = tuple(
            (str(tenant), str(ref), int(credits), str(claim))
            for tenant, ref, credits, claim in fields.get("uncertain", ())
        )
        return cls(**{k: v for k, v in fields.items() if k in _FIELDS})

    def to_json(self) -> str:
        return json.dumps(asdict(self))


# What from_json keeps of a stored baseline: one of a later version may hold more.
_FIELDS = frozenset(Baseline.__dataclass_fields__)
