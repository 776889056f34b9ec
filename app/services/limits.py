"""Per-process guards on what a team's requests may cost beyond credits: rates of reads and
of revocations, failed authentications, refused requests, bodies held at once, and the org's
balance asked of Rivya at most once per interval.

Reads cost no credits, but each is CPU and Redis work on a shared replica; the balance is a
Rivya call that every team's credits read would otherwise make. Both are per process (no Redis
round trip): across N replicas a team may read N times the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from app.clock import Clock
from app.domain.rates import RateState, rate_limit_headers
from app.errors import RateLimited

# A browser token's user may read at most this share of its team's read rate: one user cannot
# starve the team, and however many users are minted, together they read within the team's rate.
USER_SHARE = 4


@dataclass(frozen=True)
class _Rate:
    interval: float  # seconds between events, at the sustained rate
    burst: int

    @property
    def window(self) -> float:
        return self.interval * self.burst


class _Buckets:
    """GCRA buckets in this process's memory (no Redis: these guard what reaches Redis)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}  # theoretical arrival time per bucket

    def full(self, buckets: list[tuple[str, _Rate]]) -> tuple[_Rate, int] | None:
        """The first bucket with no room for one more, and in how many seconds it has."""
        now = self._clock.now()
        for bucket, rate in buckets:
            tat = max(self._tat.get(bucket, now), now)
            if tat + rate.interval - now > rate.window:
                return rate, max(1, round(tat + rate.interval - rate.window - now + 0.5))
        return None

    def refuse_if_full(self, buckets: list[tuple[str, _Rate]], why: str) -> None:
        """429 (``why``, then when to retry) when any bucket has no room for one more."""
        full = self.full(buckets)
        if full is not None:
            _, retry = full
            raise RateLimited(f"{why}; retry in {retry} s.", headers={"Retry-After": str(retry)})

    def take(self, buckets: list[tuple[str, _Rate]]) -> None:
        now = self._clock.now()
        for bucket, rate in buckets:
            self._tat[bucket] = max(self._tat.get(bucket, now), now) + rate.interval
        if len(self._tat) > 10_000:  # forget buckets that are full again
            self._tat = {k: v for k, v in self._tat.items() if v > now}


def _team_and_user_rates(per_minute: int, burst: int) -> tuple[_Rate, _Rate]:
    """A team's rate, and a browser-token user's: a quarter of it (USER_SHARE)."""
    return (
        _Rate(60.0 / per_minute, burst),
        _Rate(60.0 / max(per_minute // USER_SHARE, 1), max(burst // USER_SHARE, 1)),
    )


def _team_and_user(
    team: str, user: str | None, rates: tuple[_Rate, _Rate]
) -> list[tuple[str, _Rate]]:
    """The team's bucket, and its user's when a browser token's (both must have room)."""
    buckets = [(team, rates[0])]
    if user is not None:
        buckets.append((f"{team}\x1e{user}", rates[1]))
    return buckets


class TeamRate:
    """GCRA per team: ``burst`` requests of one kind (``what``: reads, revocations) at once,
    refilling at ``per_minute``; a browser token's counts against its user's own bucket (a
    quarter of that) and its team's."""

    def __init__(self, clock: Clock, *, what: str, per_minute: int, burst: int) -> None:
        self._buckets = _Buckets(clock)
        self._what = what
        self._rates = _team_and_user_rates(per_minute, burst)

    def check(self, team: str, user: str | None = None) -> None:
        """One request of ``team`` (by a browser token's ``user``): every bucket must have
        room, and a refusal by any consumes none."""
        buckets = _team_and_user(team, user, self._rates)
        full = self._buckets.full(buckets)
        if full is not None:
            rate, retry = full
            state = RateState(rate.burst, round(rate.window), 0, retry)
            raise RateLimited(
                f"Too many {self._what} for this team; retry in {retry} s.",
                headers={"Retry-After": str(retry), **rate_limit_headers(state, self._what)},
            )
        self._buckets.take(buckets)


class AuthFailures:
    """Failed authentications (an unknown, wrong, revoked or expired key or token) per client
    address and per key id: past ``burst`` of them, refilling at ``per_minute``, a credential
    this process does not already know to be good is refused (429) before it costs a lookup.
    A caller whose credential is good (cached) is never slowed by its neighbours' failures."""

    def __init__(self, clock: Clock, *, per_minute: int, burst: int) -> None:
        self._buckets = _Buckets(clock)
        self._rate = _Rate(60.0 / per_minute, burst)

    def _of(self, client: str | None, key_id: str | None) -> list[tuple[str, _Rate]]:
        named = [f"addr\x1e{client}" if client else "", f"key\x1e{key_id}" if key_id else ""]
        return [(bucket, self._rate) for bucket in named if bucket]

    def refuse_if_failing(self, client: str | None, key_id: str | None) -> None:
        self._buckets.refuse_if_full(
            self._of(client, key_id),
            "Too many failed authentications from this address or for this key (use a valid key)",
        )

    def failed(self, client: str | None, key_id: str | None) -> None:
        self._buckets.take(self._of(client, key_id))


class RefusedRequests:
    """Requests refused as bad input (400, 413, 415) per team, and per browser-token user at a
    quarter of that: past ``burst`` of them, refilling at ``per_minute``, the caller's requests
    are refused (429) as soon as it is known, before their body is read. A refusal costs no
    credits, but it costs parsing, lookups and an answer: a caller sending only bad requests
    must not get them for free. Good requests are never counted."""

    REFUSED_INPUT = frozenset({400, 413, 415})

    def __init__(self, clock: Clock, *, per_minute: int, burst: int) -> None:
        self._buckets = _Buckets(clock)
        self._rates = _team_and_user_rates(per_minute, burst)

    def refuse_if_refusing(self, team: str, user: str | None) -> None:
        self._buckets.refuse_if_full(
            _team_and_user(team, user, self._rates),
            "Too many of this caller's requests were refused as invalid; fix them (each "
            "refusal said what to change)",
        )

    def answered(self, status: int, team: str | None, user: str | None) -> None:
        if team is not None and status in self.REFUSED_INPUT:
            self._buckets.take(_team_and_user(team, user, self._rates))


class AtOnce:
    """At most ``total`` holders at once in this process, and at most half of them (at least
    one) for any one key: what bounds memory that a request holds while it lasts (an upload's
    body), where no rate does. A holder waits up to ``wait_seconds`` for room, then 429."""

    def __init__(self, total: int, *, wait_seconds: float, what: str) -> None:
        self._total, self._per_key = total, max(1, total // 2)
        self._wait, self._what = wait_seconds, what
        self._held: dict[str, int] = {}
        self._waiters: list[asyncio.Future[None]] = []

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        await self.take(key)
        try:
            yield
        finally:
            self.give_back(key)

    async def take(self, key: str) -> None:
        """Room for one more of ``key``'s, waited for; give it back with ``give_back``."""
        try:
            async with asyncio.timeout(self._wait):
                while sum(self._held.values()) >= self._total or (
                    self._held.get(key, 0) >= self._per_key
                ):
                    woken = asyncio.get_running_loop().create_future()
                    self._waiters.append(woken)
                    try:
                        await woken
                    finally:
                        if woken in self._waiters:
                            self._waiters.remove(woken)
        except TimeoutError:
            raise RateLimited(
                f"Too many {self._what} at once on this gateway; retry soon.",
                headers={"Retry-After": "1"},
            ) from None
        self._held[key] = self._held.get(key, 0) + 1

    def give_back(self, key: str) -> None:
        # At once, never behind an await a cancellation could interrupt.
        self._held[key] -= 1
        if not self._held[key]:
            del self._held[key]
        waiters, self._waiters = self._waiters, []
        for woken in waiters:
            if not woken.done():
                woken.set_result(None)

    @property
    def held(self) -> int:
        return sum(self._held.values())
