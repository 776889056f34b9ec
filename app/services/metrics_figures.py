"""The figures ``/metrics`` reads from Redis at scrape time (spend, budgets, reservations,
tasks in flight, settler lag, credits per model and ledger events) and this process's view of
Rivya (the circuit, the balance as last asked, the drift of the books from it).

Spend comes from Redis, the source of truth, so every replica reports the same numbers as
``GET /admin/spend``: aggregate these with ``max``, never ``sum``, across replicas.

Named for what it holds, the figures of ``/metrics`` (it was ``observed.py``: "observed" is also
what ``store.tasks.Observed`` and ``Settlement.observe`` say of a task's state seen at Rivya).
"""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.core import GaugeMetricFamily, Metric

from app.clock import Clock
from app.errors import StoreUnavailable
from app.metrics import counter, gauge
from app.refreshed import Refreshed
from app.services.reconciliation import Reconciliation
from app.services.usage import UsageService
from app.store.schedule import DueTeams
from app.store.settlement import SettleQueue
from app.store.spend import SpendStore
from app.upstream.resilience import CircuitBreaker

CIRCUIT_STATES = ("closed", "half_open", "open")
BALANCE_SCRAPE_SECONDS = 2.0


class MetricsFigures:
    def __init__(
        self,
        usage: UsageService,
        queue: SettleQueue,
        due: DueTeams,
        breaker: CircuitBreaker,
        clock: Clock,
        spend: SpendStore,
        reconciliation: Reconciliation,
        *,
        cache_seconds: float = 0.0,
    ) -> None:
        self._usage, self._queue, self._breaker, self._clock = usage, queue, breaker, clock
        self._due = due
        self._spend, self._reconciliation = spend, reconciliation
        # A scrape reads the books of every team from Redis: repeated scrapes (several
        # Prometheus, a curl loop) within this many seconds share one read.
        self._figures = Refreshed(self._gauges, seconds=cache_seconds)

    async def gauges(self) -> list[Metric]:
        """The scrape-time figures, read at most every ``cache_seconds`` (real time)."""
        return await self._figures.get()

    async def _gauges(self) -> list[Metric]:
        circuit = gauge(
            "gateway_rivya_circuit", "This replica's circuit to Rivya: 1 for its state.", ["state"]
        )
        for state in CIRCUIT_STATES:
            circuit.add_metric([state], 1.0 if self._breaker.state == state else 0.0)
        redis_up = gauge("gateway_redis_up", "1 if Redis answered this scrape's reads.")
        rivya = await self._rivya()  # never raises: unknown figures are left out
        try:
            families = [*await self._from_redis(), *await self._flows()]
        except StoreUnavailable:
            redis_up.add_metric([], 0.0)
            return [circuit, redis_up, *rivya]
        redis_up.add_metric([], 1.0)
        return [circuit, redis_up, *families, *rivya]

    async def _flows(self) -> list[Metric]:
        """All-time credits per team and model, and ledger events: counters kept in Redis by
        the money scripts (a deleted team's figures add to its id's)."""
        names = {
            "reserved": "Credits brought onto the books: held at admission (or charged beyond "
            "any hold). Less released: what the team holds and has spent now.",
            "settled": "Credits charged: tasks settled at Rivya's final_credits, or given up.",
            "released": "Credits taken off the books unspent: holds given back (refused, failed, "
            "cancelled) and charges refunded.",
            "refunded": "Charges taken back (a task given up that then failed, a reclaim).",
        }
        flows: dict[str, dict[tuple[str, str], int]] = {f: defaultdict(int) for f in names}
        events: dict[tuple[str, str], int] = defaultdict(int)
        tenants = await self._queue.teams()
        for tenant, figures in zip(tenants, await self._spend.flows(tenants), strict=True):
            team = tenant.partition("@")[0]
            for (flow, model), credits in figures.sums.items():
                if flow in flows:
                    flows[flow][team, model] += credits
            for event, count in figures.events.items():
                events[team, event] += count
        families: list[Metric] = []
        for flow, documentation in names.items():
            family = counter(f"gateway_credits_{flow}", documentation, ["team", "model"])
            for labels, credits in sorted(flows[flow].items()):
                family.add_metric(list(labels), credits)
            families.append(family)
        ledger = counter(
            "gateway_ledger_events",
            "Money moves by ledger event: reserve, settle, release, cancel, adjust; and those "
            "worth a look: unreserved, abandon, give_up, correct, reclaim, orphan, unpriced.",
            ["team", "event"],
        )
        for labels, count in sorted(events.items()):
            ledger.add_metric(list(labels), count)
        return [*families, ledger]

    async def _rivya(self) -> list[Metric]:
        """Rivya's balance and the drift of the books from it, refreshed at most every
        ORG_BALANCE_CACHE_SECONDS. A scrape never waits long for Rivya: it shows the last
        figures known (none before the first)."""
        figures = await self._reconciliation.latest(wait=BALANCE_SCRAPE_SECONDS)
        if figures is None:
            return []
        credits, drift = figures.balance, figures.drift
        families: list[Metric] = []
        if credits is not None:
            balance = gauge("gateway_rivya_balance_credits", "The org's Rivya balance.")
            balance.add_metric([], credits)
            low = gauge(
                "gateway_rivya_balance_low",
                "1 when the balance is below ORG_BALANCE_LOW_CREDITS.",
            )
            low.add_metric([], 1.0 if self._reconciliation.is_low(credits) else 0.0)
            families += [balance, low]
        if drift is not None:
            family = gauge(
                "gateway_reconciliation_drift_credits",
                "What Rivya's balance fell by since the baseline, less what the gateway charged "
                "and holds: 0 when the books match (GET /admin/upstream explains).",
            )
            family.add_metric([], drift.credits)
            unexplained = gauge(
                "gateway_reconciliation_unexplained_credits",
                "The drift beyond what credits in flight (now, or at the baseline) explain: "
                "alert when it is not 0.",
            )
            unexplained.add_metric([], drift.unexplained)
            families += [family, unexplained]
        return families

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
        kept = gauge(
            "gateway_team_results_bytes", "What the team's copies of results take.", ["team"]
        )
        report = await self._usage.report("current")
        for row in report["teams"]:
            key = [row["team"], row["period"]]
            kept.add_metric([row["team"]], row["results"]["bytes"])
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
            "How long the most overdue team has waited past its due work (a task's poll, a lost "
            "create, an alert; 0: none overdue).",
        )
        due_teams = gauge(
            "gateway_settler_due_teams", "Teams in the settlers' index: with work, due or not."
        )
        now_ms = self._clock.now() * 1000
        earliest = await self._due.earliest()
        lag.add_metric([], max(now_ms - earliest, 0.0) / 1000 if earliest is not None else 0.0)
        due_teams.add_metric([], await self._due.size())
        return [spent, reserved, budget, remaining, used, in_flight, kept, lag, due_teams]
