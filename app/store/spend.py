"""Reading spend: a period's spent and reserved credits (in all and per model), task counts,
refusals, tasks in flight; the money flows per model; and the team's ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from redis.asyncio import Redis

from app.domain.teams import KeyBudget, KeySpend
from app.periods import PERIODS, PeriodStamps
from app.store.keyspace import KeySpace, spend_keys
from app.store.redis import store_errors, text_map


@dataclass(frozen=True)
class PeriodSpend:
    spent: int
    reserved: int
    tasks_created: int
    tasks_succeeded: int
    tasks_failed: int
    in_flight: int
    by_model: dict[str, int] = field(default_factory=dict)  # spent credits per model
    refusals: dict[str, int] = field(default_factory=dict)  # requests refused, by reason or code

    @property
    def tasks_pending(self) -> int:
        return max(self.tasks_created - self.tasks_succeeded - self.tasks_failed, 0)


class SpendStore:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis, self._keys = redis, keys

    async def read(self, team_id: str, stamp: str) -> PeriodSpend:
        """One period's figures and the team's tasks in flight, in one round trip."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.spend(team_id, stamp))
            pipe.hlen(self._keys.reservations(team_id))
            raw, in_flight = await pipe.execute()
        return replace(_period(text_map(raw)), in_flight=int(in_flight))

    async def add_refusals(
        self, counts: Mapping[tuple[str, str], int], stamps: PeriodStamps, *, ttl_seconds: int
    ) -> None:
        """Refusals counted outside the admission script, by (tenant, code), into each of the
        periods' hashes, as ``refused:<code>`` beside the script's own (one round trip)."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for (tenant, code), count in counts.items():
                *periods, total = spend_keys(self._keys, tenant, stamps)
                for key in periods:
                    pipe.hincrby(key, f"refused:{code}", count)
                    pipe.expire(key, ttl_seconds)
                pipe.hincrby(total, f"refused:{code}", count)
            await pipe.execute()

    async def token(self, tenant: str, token_id: str) -> tuple[int, int]:
        """A capped browser token's own (spent, reserved) credits."""
        key = self._keys.token_credits(tenant, token_id)
        with store_errors():
            raw = await self._redis.hmget(key, ["spent", "reserved"])
        return int(raw[0] or 0), int(raw[1] or 0)

    async def keys(self, tenant: str, key_ids: list[str], stamps: PeriodStamps) -> list[KeySpend]:
        """Each key's budget and its spend in the budget's period of ``stamps`` (the month's,
        without a budget), in one round trip."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._keys.key_budgets(tenant), key_ids or ["-"])
            for key_id in key_ids:
                for stamp in stamps.all():
                    pipe.hmget(self._keys.key_spend(tenant, key_id, stamp), ["spent", "reserved"])
            budgets, *periods = await pipe.execute()
        found = []
        for i, budget in enumerate(budgets[: len(key_ids)]):  # in key_ids' order
            kept = KeyBudget.decode(str(budget)) if budget else None
            spent, held = periods[i * 4 + PERIODS.index(kept.period if kept else "month")]
            found.append(KeySpend(kept, int(spent or 0), int(held or 0)))
        return found

    async def days(self, team_ids: list[str], stamps: list[str]) -> list[list[PeriodSpend]]:
        """Each team's figures for each of ``stamps`` (in one round trip): rows by team."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for team_id in team_ids:
                for stamp in stamps:
                    pipe.hgetall(self._keys.spend(team_id, stamp))
            raw = await pipe.execute()
        rows = [_period(text_map(r)) for r in raw]
        return [rows[i * len(stamps) : (i + 1) * len(stamps)] for i in range(len(team_ids))]

    async def flows(self, team_ids: list[str]) -> list[MoneyFlows]:
        """Each team's all-time money flows per model and ledger events (the ``total`` hash)."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for team_id in team_ids:
                pipe.hgetall(self._keys.spend(team_id, "total"))
            raw = await pipe.execute()
        return [_flows(text_map(r)) for r in raw]


@dataclass(frozen=True)
class MoneyFlows:
    """Since the team began (monotonic, for Prometheus counters): per model, credits reserved,
    charged, given back unspent and charges taken back; and how many of each ledger event."""

    spent: int
    reserved: int
    sums: dict[tuple[str, str], int]  # (flow, model) -> credits
    events: dict[str, int]


def _prefixed(fields: dict[str, str], prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: int(v) for k, v in fields.items() if k.startswith(prefix)}


def _period(fields: dict[str, str]) -> PeriodSpend:
    def number(name: str) -> int:
        return int(fields.get(name, 0))

    return PeriodSpend(
        spent=number("spent"),
        reserved=number("reserved"),
        tasks_created=number("tasks_created"),
        tasks_succeeded=number("tasks_succeeded"),
        tasks_failed=number("tasks_failed"),
        in_flight=0,
        by_model=_prefixed(fields, "spent:"),
        refusals=_prefixed(fields, "refused:"),
    )


def _flows(fields: dict[str, str]) -> MoneyFlows:
    sums = {}
    for name, credits in _prefixed(fields, "sum:").items():
        flow, _, model = name.partition(":")
        sums[flow, model] = credits
    return MoneyFlows(
        spent=int(fields.get("spent", 0)),
        reserved=int(fields.get("reserved", 0)),
        sums=sums,
        events=_prefixed(fields, "events:"),
    )
