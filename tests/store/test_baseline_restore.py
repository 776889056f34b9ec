"""The reconciliation baseline written back after Redis lost its data: when two replicas
remember different baselines, the latest one (an admin's reset one of them had not read yet)
wins, whichever restores first."""

from __future__ import annotations

from types import SimpleNamespace

from redis.asyncio import Redis

from app.clock import FakeClock
from app.services.reconciliation import Reconciliation
from app.store.keys import KeySpace
from app.store.reconciliation import BaselineStore
from app.store.scripts import Scripts


class Flows:
    """The books over every team, as the spend store reports them (one team here)."""

    async def flows(self, teams: list[str]) -> list[SimpleNamespace]:
        return [SimpleNamespace(spent=0, reserved=0)]


def reconciliation(redis: Redis, clock: FakeClock, balance: list[int]) -> Reconciliation:
    async def current() -> int:
        return balance[0]

    async def teams() -> list[str]:
        return ["alpha@1"]

    return Reconciliation(
        BaselineStore(redis, KeySpace("gw"), Scripts(redis)),
        Flows(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # the ledger: not read by baseline()
        SimpleNamespace(teams=teams),  # type: ignore[arg-type]
        current,
        current,
        None,  # type: ignore[arg-type]  # the circuit breaker: not read by baseline()
        clock,
        None,  # type: ignore[arg-type]  # aftercare: not used by baseline()
        low_balance_credits=None,
        figures_max_age=60,
    )


async def test_the_latest_baseline_is_restored_whoever_restores_first(redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        clock, balance = FakeClock(), [10_000]
        stale, current = (
            reconciliation(redis, clock, balance),
            reconciliation(redis, clock, balance),
        )
        assert await stale.first_baseline(wait_for_quiet=True)
        assert (await current.baseline()) is not None
        clock.advance(100)
        balance[0] = 9_000
        await current.set_baseline()  # an admin's reset, through the other replica
        await redis.flushall()  # Redis loses its data

        first = await stale.baseline()  # restores what it last saw: the older one
        latest = await current.baseline()  # knows better, and says so

        assert first is not None
        assert first.rivya_credits == 10_000
        assert latest is not None
        assert latest.rivya_credits == 9_000
        assert latest.restored_at_ms is not None
        assert (await stale.baseline()) == latest  # the stale one now reads the latest
    finally:
        await redis.aclose()
