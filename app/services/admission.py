"""Admission of a create: reserve its credits under the team's limits, or refuse it clearly.

The decision itself is one Lua script (``store/lua/admit.lua``); this module picks the period
stamps, turns refusals into the contract's errors, and formats the IETF RateLimit headers.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from app.clock import Clock
from app.domain import Team
from app.errors import ApiKeyRevoked, BudgetExceeded, GatewayError, RateLimited
from app.periods import period_bounds, stamps_at
from app.store.admission import AdmissionStore, Admitted, RateState, Refused

RATE_POLICY = "creates"


def rate_limit_headers(state: RateState) -> dict[str, str]:
    """``RateLimit-Policy`` / ``RateLimit`` as in draft-ietf-httpapi-ratelimit-headers: a quota
    of ``burst`` creates per window, what remains of it, and when it is whole again."""
    return {
        "RateLimit-Policy": f'"{RATE_POLICY}";q={state.burst};w={max(state.window_seconds, 1)}',
        "RateLimit": f'"{RATE_POLICY}";r={state.remaining};t={state.full_in_seconds}',
    }


class Admission:
    def __init__(self, store: AdmissionStore, clock: Clock, *, in_flight_retry_seconds: int):
        self._store, self._clock = store, clock
        self._in_flight_retry = in_flight_retry_seconds

    async def reserve(self, team: Team, credits: int) -> Admitted:
        now = self._clock.now()
        decision = await self._store.admit(
            team.id,
            credits=credits,
            reservation_id=f"res_{uuid.uuid4().hex}",
            stamps=stamps_at(now),
            now_us=int(now * 1_000_000),
        )
        if isinstance(decision, Refused):
            raise self._refusal(decision, team, credits, now)
        return decision

    async def release(self, team: Team, admitted: Admitted) -> None:
        await self._store.release(team.id, admitted.reservation_id, admitted.stamps)

    def _refusal(self, refused: Refused, team: Team, credits: int, now: float) -> GatewayError:
        if refused.reason == "budget":
            return BudgetExceeded(
                f"Team {team.id!r} has {refused.budget_remaining} of {refused.budget} credits "
                f"left {_period_phrase(team, now)}; this task needs {credits}."
            )
        if refused.reason == "rate" and refused.rate is not None:
            retry = max(1, -(-refused.retry_after_ms // 1000))
            return RateLimited(
                f"Team {team.id!r} may create {team.rate_limit_per_minute} tasks a minute "
                f"(bursts of {team.effective_burst}); retry in {retry} s.",
                headers={"Retry-After": str(retry), **rate_limit_headers(refused.rate)},
            )
        if refused.reason == "in_flight":
            return RateLimited(
                f"Team {team.id!r} has {refused.in_flight} tasks in flight, the most it may "
                "have; retry when one ends.",
                headers={"Retry-After": str(self._in_flight_retry)},
            )
        # The team was deleted after its key was cached.
        return ApiKeyRevoked("This key's team no longer exists.")


def _period_phrase(team: Team, now: float) -> str:
    _, end = period_bounds(team.budget_period, now)
    if end is None:
        return "in its total budget, which does not reset"
    return f"this {team.budget_period}; the budget resets at {_iso(end)}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
