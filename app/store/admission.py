"""Admission and release of a create's credits: typed wrappers over ``admit.lua`` and
``release.lua`` (one round trip each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
class Admitted:
    reservation_id: str
    credits: int
    stamps: PeriodStamps
    budget_remaining: int | None
    rate: RateState


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    budget_remaining: int = 0
    budget: int = 0
    retry_after_ms: int = 0
    rate: RateState | None = None
    in_flight: int = 0
    max_in_flight: int = 0


def spend_keys(keys: KeySpace, team_id: str, stamps: PeriodStamps) -> list[str]:
    return [keys.spend(team_id, stamp) for stamp in stamps.all()]


class AdmissionStore:
    def __init__(self, keys: KeySpace, scripts: Scripts) -> None:
        self._keys, self._scripts = keys, scripts

    async def admit(
        self,
        team_id: str,
        *,
        credits: int,
        reservation_id: str,
        stamps: PeriodStamps,
        now_us: int,
    ) -> Admitted | Refused:
        k = self._keys
        async with store_errors():
            reply = await self._scripts.admit(
                keys=[
                    k.team(team_id),
                    k.rate(team_id),
                    k.reservations(team_id),
                    *spend_keys(k, team_id, stamps),
                ],
                args=[now_us, credits, reservation_id, stamps.encode(), SPEND_RETENTION_SECONDS],
            )
        kind, *values = reply
        numbers = [int(v) for v in values]
        if kind == "ok":
            remaining, rate_left, full_in_ms, burst, window_ms = numbers
            return Admitted(
                reservation_id=reservation_id,
                credits=credits,
                stamps=stamps,
                budget_remaining=None if remaining < 0 else remaining,
                rate=RateState(burst, _seconds(window_ms), rate_left, _seconds(full_in_ms)),
            )
        if kind == "budget":
            return Refused("budget", budget_remaining=max(numbers[0], 0), budget=numbers[1])
        if kind == "rate":
            retry_ms, burst, window_ms = numbers
            state = RateState(burst, _seconds(window_ms), 0, _seconds(retry_ms))
            return Refused("rate", retry_after_ms=retry_ms, rate=state)
        if kind == "in_flight":
            return Refused("in_flight", in_flight=numbers[0], max_in_flight=numbers[1])
        return Refused("no_team")

    async def release(self, team_id: str, reservation_id: str, stamps: PeriodStamps) -> int:
        """Give back a reservation (a definite upstream refusal); returns the credits freed."""
        k = self._keys
        async with store_errors():
            released = await self._scripts.release(
                keys=[k.reservations(team_id), *spend_keys(k, team_id, stamps)],
                args=[reservation_id],
            )
        return int(released)


def _seconds(ms: int) -> int:
    return max(0, -(-ms // 1000))  # ceiling: never tell a client to come back too early
