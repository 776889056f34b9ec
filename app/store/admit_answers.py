"""admit.lua's answer, read: a refusal (``domain/refusals.py``), an admission, or a repeat of an
earlier create (see the script's header for each answer's figures)."""

from __future__ import annotations

import json

from app.domain.creates import Admitted, Decision, PendingCreate, Repeat
from app.domain.rates import rate_state
from app.domain.refusals import REFUSALS, budget_period


def decision_of(create: PendingCreate, kind: str, values: list[str]) -> Decision:
    """What admit.lua decided for ``create``: its answer's ``kind`` and figures (``values``)."""
    if kind in REFUSALS:
        return REFUSALS[kind].read(values)
    return _admitted_or_repeat(create, kind, values)


def _admitted_or_repeat(create: PendingCreate, kind: str, values: list[str]) -> Decision:
    """admit.lua's answer when it admitted the create, or recognised a repeat."""
    if kind == "ok":
        remaining, rate_left, full_in_ms, burst, window_ms = (int(v) for v in values[:5])
        return Admitted(
            create=create,
            budget_remaining=None if remaining < 0 else remaining,
            rate=rate_state(burst, window_ms, rate_left, full_in_ms),
            budget=None if int(values[6]) < 0 else int(values[6]),
            budget_period=budget_period(values[7]),
        )
    if kind == "resolve":
        earlier = PendingCreate.from_json(create.team, values[0], values[1])
        return Admitted(create=earlier, budget_remaining=None, rate=None, takeover=True)
    if kind == "too_late":
        return Repeat("too_late", create=PendingCreate.from_json(create.team, *values))
    if kind == "replay":
        return Repeat("replay", task_id=values[0])
    if kind == "conflict":
        return Repeat("conflict", task_id=values[0] or None)
    if kind == "remembered":
        return Repeat("remembered", error=json.loads(values[0]))
    if kind == "in_progress":
        return Repeat("in_progress", retry_after_ms=int(values[0]))
    raise ValueError(f"admit.lua answered {kind!r}")
