"""Per-process guards on what a team's reads may cost: a read rate, and the org's balance
asked of Rivya at most once per interval.

Reads cost no credits, but each is CPU and Redis work on a shared replica; the balance is a
Rivya call that every team's credits read would otherwise make. Both are per process (no Redis
round trip): across N replicas a team may read N times the rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.clock import Clock
from app.creates import RateState
from app.errors import RateLimited
from app.services.admission import rate_limit_headers

READ_POLICY = "reads"


class ReadLimiter:
    """GCRA per team: ``burst`` reads at once, refilling at ``per_minute``."""

    def __init__(self, clock: Clock, *, per_minute: int, burst: int) -> None:
        self._clock = clock
        self._interval = 60.0 / per_minute
        self._window = self._interval * burst
        self._burst = burst
        self._tat: dict[str, float] = {}  # theoretical arrival time per team

    def check(self, team: str) -> None:
        now = self._clock.now()
        tat = max(self._tat.get(team, now), now)
        if tat + self._interval - now > self._window:
            retry = max(1, round(tat + self._interval - self._window - now + 0.5))
            state = RateState(self._burst, round(self._window), 0, retry)
            raise RateLimited(
                f"Too many reads for this team; retry in {retry} s.",
                headers={"Retry-After": str(retry), **rate_limit_headers(state, READ_POLICY)},
            )
        self._tat[team] = tat + self._interval
        if len(self._tat) > 10_000:  # forget teams whose bucket is full again
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
