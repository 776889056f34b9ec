"""The figures ``/metrics`` reads from Redis at scrape time (spend, budgets, reservations,
tasks in flight, settler lag) and this process's view of Rivya (the circuit), as gauges.

Spend comes from Redis, the source of truth, so every replica reports the same numbers as
``GET /admin/spend``: aggregate these with ``max``, never ``sum``, across replicas.
"""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from app.clock import Clock
from app.errors import StoreUnavailable
from app.metrics import gauge
from app.services.usage import UsageService
from app.store.settlement import SettleQueue
from app.upstream.resilience import CircuitBreaker

CIRCUIT_STATES = ("closed", "half_open", "open")


class Observed:
    def __init__(
        self, usage: UsageService, queue: SettleQueue, breaker: CircuitBreaker, clock: Clock
    ) -> None:
        self._usage, self._queue, self._breaker, self._clock = usage, queue, breaker, clock

    async def gauges(self) -> list[GaugeMetricFamily]:
        circuit = gauge(
            "gateway_rivya_circuit", "This replica's circuit to Rivya: 1 for its state.", ["state"]
        )
        for state in CIRCUIT_STATES:
            circuit.add_metric([state], 1.0 if self._breaker.state == state else 0.0)
        redis_up = gauge("gateway_redis_up", "1 if Redis answered this scrape's reads.")
        try:
            families = await self._from_redis()
        except StoreUnavailable:
            redis_up.add_metric([], 0.0)
            return [circuit, redis_up]
        redis_up.add_metric([], 1.0)
        return [circuit, redis_up, *families]

    async def _from_redis(self) -> list[GaugeMetricFamily]:
        labels = ["team", "period"]
        spent = gauge(
            "gateway_team_spent_credits", "Credits spent in the team's budget period.", labels
        )
        reserved = gauge(
            "gateway_team_reserved_credits", "Credits held by tasks not yet settled.", labels
        )
        budget = gauge(
            "gateway_team_budget_credits", "The team's budget per period (teams with one).", labels
        )
        remaining = gauge(
            "gateway_team_budget_remaining_credits",
            "Budget left this period (teams with one).",
            labels,
        )
        used = gauge(
            "gateway_team_budget_used_ratio",
            "(spent + reserved) / budget (teams with one).",
            labels,
        )
        in_flight = gauge("gateway_team_in_flight", "Tasks created and not yet ended.", ["team"])
        report = await self._usage.report("current")
        for row in report["teams"]:
            key = [row["team"], row["period"]]
            spent.add_metric(key, row["spent_credits"])
            reserved.add_metric(key, row["reserved_credits"])
            in_flight.add_metric([row["team"]], row["in_flight"])
            if row["budget_credits"] is not None:
                budget.add_metric(key, row["budget_credits"])
                remaining.add_metric(key, row["remaining_credits"])
                held = row["spent_credits"] + row["reserved_credits"]
                used.add_metric(key, held / row["budget_credits"] if row["budget_credits"] else 1.0)
        lag = gauge(
            "gateway_settler_lag_seconds",
            "How long the most overdue task has waited past its next poll (0: none overdue).",
        )
        now_ms = self._clock.now() * 1000
        overdue = [now_ms - due for due in await self._queue.oldest_due_all() if due < now_ms]
        lag.add_metric([], max(overdue, default=0.0) / 1000)
        return [spent, reserved, budget, remaining, used, in_flight, lag]
