"""The reconciliation baseline written back after Redis lost its data: when two replicas
remember different baselines, the latest one (an admin's reset one of them had not read yet)
wins, whichever restores first."""

from __future__ import annotations

from types import SimpleNamespace

from redis.asyncio import Redis

from app.clock import FakeClock
from app.services.baselines import Baselines
from app.store.baseline_holds import BaselineHolds
from app.store.keyspace import KeySpace
from app.store.reconciliation import BaselineStore
from app.store.scripts import Scripts


class Flows:
    """The books over every team, as the spend store reports them (one team here)."""

    async def flows(self, teams: list[str]) -> list[SimpleNamespace]:
        return [SimpleNamespace(spent=0, reserved=0)]


def baselines(redis: Redis, clock: FakeClock, balance: list[int]) -> Baselines:
    async def current() -> tuple[int, float | None]:
        return balance[0], None

    async def teams() -> list[str]:
        return ["alpha@1"]

    async def task_exists(task_id: str) -> bool | None:
        return None

    return Baselines(
        BaselineStore(redis, KeySpace("gw"), Scripts(redis)),
        BaselineHolds(redis, KeySpace("gw")),
        Flows(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # the ledger: not read here
        SimpleNamespace(teams=teams),  # type: ignore[arg-type]
        current,
        task_exists,
        clock,
        upstream="rivya",
    )


async def later_than(redis: Redis, ms: int) -> None:
    """Until Redis's clock (the baselines') has passed ``ms``: two baselines taken one after
    the other are told apart by their time."""
    while True:
        seconds, micros = await redis.time()
        if seconds * 1000 + micros // 1000 > ms:
            return


async def test_the_latest_baseline_is_restored_whoever_restores_first(redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        clock, balance = FakeClock(), [10_000]
        stale, current = baselines(redis, clock, balance), baselines(redis, clock, balance)
        assert await stale.first(wait_for_quiet=True)
        seen = await current.current()
        assert seen is not None
        await later_than(redis, seen.set_at_ms)
        balance[0] = 9_000
        await current.set()  # an admin's reset, through the other replica
        await redis.flushall()  # Redis loses its data

        first = await stale.current()  # restores what it last saw: the older one
        latest = await current.current()  # knows better, and says so

        assert first is not None
        assert first.rivya_credits == 10_000
        assert latest is not None
        assert latest.rivya_credits == 9_000
        assert latest.restored_at_ms is not None
        assert (await stale.current()) == latest  # the stale one now reads the latest
    finally:
        await redis.aclose()
