"""Per-process guards on what a team's reads may cost: a read rate, and the org's balance
asked of Rivya at most once per interval.

Reads cost no credits, but each is CPU and Redis work on a shared replica; the balance is a
Rivya call that every team's credits read would otherwise make. Both are per process (no Redis
round trip): across N replicas a team may read N times the rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.clock import Clock
from app.creates import RateState
from app.errors import RateLimited
from app.services.admission import rate_limit_headers

READ_POLICY = "reads"


# A browser token's user may read at most this share of its team's read rate: one user cannot
# starve the team, and however many users are minted, together they read within the team's rate.
USER_SHARE = 4


@dataclass(frozen=True)
class _Rate:
    interval: float  # seconds between reads, at the sustained rate
    burst: int

    @property
    def window(self) -> float:
        return self.interval * self.burst


class ReadLimiter:
    """GCRA per team: ``burst`` reads at once, refilling at ``per_minute``; a browser token's
    read counts against its user's own bucket (a quarter of that) and its team's."""

    def __init__(self, clock: Clock, *, per_minute: int, burst: int) -> None:
        self._clock = clock
        self._team = _Rate(60.0 / per_minute, burst)
        self._user = _Rate(60.0 / max(per_minute // USER_SHARE, 1), max(burst // USER_SHARE, 1))
        self._tat: dict[str, float] = {}  # theoretical arrival time per bucket

    def check(self, team: str, user: str | None = None) -> None:
        """One read of ``team`` (by a browser token's ``user``): every bucket must have room,
        and a refusal by any consumes none."""
        buckets = [(team, self._team)]
        if user is not None:
            buckets.append((f"{team}\x1e{user}", self._user))
        now = self._clock.now()
        tats = [max(self._tat.get(bucket, now), now) for bucket, _ in buckets]
        for tat, (_, rate) in zip(tats, buckets, strict=True):
            if tat + rate.interval - now > rate.window:
                retry = max(1, round(tat + rate.interval - rate.window - now + 0.5))
                state = RateState(rate.burst, round(rate.window), 0, retry)
                raise RateLimited(
                    f"Too many reads for this team; retry in {retry} s.",
                    headers={"Retry-After": str(retry), **rate_limit_headers(state, READ_POLICY)},
                )
        for tat, (bucket, rate) in zip(tats, buckets, strict=True):
            self._tat[bucket] = tat + rate.interval
        if len(self._tat) > 10_000:  # forget buckets that are full again
            self._tat = {k: v for k, v in self._tat.items() if v > now}


class CachedBalance:
    """The org's Rivya balance, asked at most once per ``seconds`` by this process (one call
    at a time; the others wait for its answer)."""

    def __init__(self, fetch: Callable[[], Awaitable[int]], clock: Clock, *, seconds: float):
        self._fetch, self._clock, self._seconds = fetch, clock, seconds
        self._value: int | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self) -> int:
        async with self._lock:
            if self._value is None or self._clock.now() >= self._expires:
                self._value = await self._fetch()
                self._expires = self._clock.now() + self._seconds
            return self._value
