"""Reconciliation with Rivya: do the gateway's books match what the org's balance fell by?

Rivya takes a task's credits from the balance when it creates the task and gives them back if
the task fails; the gateway reserves them at admission and settles them to ``final_credits``.
So from a baseline (Rivya's balance and the gateway's totals at one moment) on:

    drift = (baseline balance - balance now) - (spent since) - (reserved now - reserved then)

is 0 when every credit Rivya took is on some team's books. Two things move it without anything
being wrong, and both are bounded: credits reserved now may not be at Rivya yet (a create
admitted, not yet sent; a task failed and refunded, not yet settled), which can make drift
negative by up to what is reserved now; and so could credits reserved when the baseline was
taken, which can make it positive by up to what was reserved then (``uncertain_credits``; 0 for
a baseline taken with nothing in flight). What lies beyond those bounds is **unexplained**:
credits moved without the gateway knowing (another key on the org's account, a top-up), or the
gateway charged without knowing the outcome (the ledger's suspect events).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from app.clock import Clock, iso_timestamp
from app.errors import GatewayError, StoreUnavailable
from app.services.aftercare import Aftercare
from app.store.ledger import LedgerStore
from app.store.reconciliation import Baseline, BaselineStore
from app.store.settlement import SettleQueue
from app.store.spend import SpendStore
from app.upstream.failures import UpstreamFailure
from app.upstream.resilience import CircuitBreaker

log = logging.getLogger("app.reconciliation")

SUSPECT_SCAN_PER_TEAM = 1000  # ledger entries read per team for suspects: bounded work
REFRESH_SECONDS = 60.0  # the longest one refresh of the figures for scrapes may take


@dataclass(frozen=True)
class Books:
    """The gateway's totals over every team, deleted ones included."""

    spent: int
    reserved: int


@dataclass(frozen=True)
class Drift:
    rivya_spent: int  # what Rivya's balance fell by since the baseline
    spent: int  # what the gateway charged since
    reserved: int  # how much more it holds than then
    credits: int  # rivya_spent - spent - reserved
    unexplained: int  # the part no credits in flight (now or at the baseline) can explain


@dataclass(frozen=True)
class Figures:
    """For scrapes: Rivya's balance and the drift, read together (the books right after the
    balance), at ``at``. None where unknown."""

    at: float
    balance: int | None
    drift: Drift | None


def drift_of(baseline: Baseline, books: Books, balance: int) -> Drift:
    rivya_spent = baseline.rivya_credits - balance
    spent = books.spent - baseline.gateway_spent
    reserved = books.reserved - baseline.gateway_reserved
    credits = rivya_spent - spent - reserved
    if credits > baseline.uncertain_credits:
        unexplained = credits - baseline.uncertain_credits
    elif credits < -books.reserved:
        unexplained = credits + books.reserved
    else:
        unexplained = 0
    return Drift(rivya_spent, spent, reserved, credits, unexplained)


class Reconciliation:
    def __init__(
        self,
        baselines: BaselineStore,
        spend: SpendStore,
        ledger: LedgerStore,
        queue: SettleQueue,
        balance: Callable[[], Awaitable[int]],
        cached_balance: Callable[[], Awaitable[int]],
        breaker: CircuitBreaker,
        clock: Clock,
        aftercare: Aftercare,
        *,
        low_balance_credits: int | None,
        figures_max_age: float,
    ) -> None:
        self._baselines, self._spend, self._ledger = baselines, spend, ledger
        self._queue, self._balance, self._breaker, self._clock = queue, balance, breaker, clock
        self._aftercare, self._cached_balance = aftercare, cached_balance
        self.low_balance_credits = low_balance_credits
        self._max_age = figures_max_age
        self._was_low = False
        self._figures: Figures | None = None
        self._known: Baseline | None = None  # the last baseline read or written here
        self._refreshing: asyncio.Task[Any] | None = None

    async def books(self) -> Books:
        flows = await self._spend.flows(await self._queue.teams())
        return Books(sum(f.spent for f in flows), sum(f.reserved for f in flows))

    async def set_baseline(self) -> Baseline:
        """Take Rivya's balance and the gateway's books now as the baseline. Credits reserved
        at that moment may or may not be at Rivya: they are kept as the baseline's uncertainty
        (so take it when little is in flight)."""
        baseline = await self._take(self._balance)
        await self._baselines.put(baseline)
        self._known = baseline
        return baseline

    async def baseline(self) -> Baseline | None:
        """The baseline in Redis. Nobody deletes it (a new one replaces it), so one this process
        has seen and Redis no longer holds means Redis lost its data: it is written back, marked
        restored, so the drift goes on counting from it and shows the credits whose books were
        lost, instead of starting again from nothing and hiding them."""
        baseline = await self._baselines.get()
        if baseline is None and self._known is not None:
            restored = replace(self._known, restored_at_ms=int(self._clock.now() * 1000))
            if await self._baselines.put(restored, only_if_absent=True):
                log.error(
                    "redis lost the reconciliation baseline: restored from memory; the drift "
                    "now counts the credits whose books were lost",
                    extra={"baseline_set_at_ms": restored.set_at_ms},
                )
            baseline = await self._baselines.get()  # another replica's copy, if it was first
        known = self._known
        if (
            baseline is not None
            and known is not None
            and baseline.restored_at_ms is not None
            and baseline.set_at_ms < known.set_at_ms
        ):
            # Another replica restored an older baseline than the latest this one has seen (an
            # admin's reset it had not read yet): the latest wins, marked restored too.
            baseline = replace(known, restored_at_ms=baseline.restored_at_ms)
            await self._baselines.put(baseline)
        if baseline is not None:
            self._known = baseline
        return baseline

    async def first_baseline(self, *, wait_for_quiet: bool) -> bool:
        """At start: set a baseline if there is none (the first of racing replicas wins).
        With ``wait_for_quiet``, only while nothing is reserved (False: try again later). The
        balance is this process's cached one (fetched now, and shared with the first reads).
        True once a baseline exists."""
        if await self.baseline() is not None:
            return True
        baseline = await self._take(self._cached_balance)
        if wait_for_quiet and baseline.uncertain_credits:
            return False
        await self._baselines.put(baseline, only_if_absent=True)
        self._known = await self._baselines.get()
        return True

    async def _take(self, balance_of: Callable[[], Awaitable[int]]) -> Baseline:
        balance = await balance_of()
        books = await self.books()  # right after the balance: what moved between is in flight
        return Baseline(
            rivya_credits=balance,
            gateway_spent=books.spent,
            gateway_reserved=books.reserved,
            set_at_ms=int(self._clock.now() * 1000),
            uncertain_credits=books.reserved,
        )

    async def balance(self) -> tuple[int | None, str | None]:
        """Rivya's balance, or why it could not be read; warns once as it falls below the
        threshold."""
        try:
            credits = await self._balance()
        except UpstreamFailure as failure:
            return None, failure.contract_error().message
        except GatewayError as refused:  # the circuit is open
            return None, refused.message
        self._note_balance(credits)
        return credits, None

    def _note_balance(self, credits: int) -> None:
        low = self.is_low(credits)
        if low and not self._was_low:
            log.warning(
                "rivya balance low",
                extra={"current_credits": credits, "threshold": self.low_balance_credits},
            )
        self._was_low = low

    def is_low(self, credits: int | None) -> bool:
        threshold = self.low_balance_credits
        return threshold is not None and credits is not None and credits < threshold

    async def latest(self, *, wait: float) -> Figures | None:
        """The figures for a scrape: refreshed (one refresh at a time, in the background) once
        older than ``ORG_BALANCE_CACHE_SECONDS``; waits at most ``wait`` for a refresh, else
        answers the last figures known (None before the first)."""
        figures = self._figures
        if figures is None or self._clock.now() - figures.at >= self._max_age:
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = self._aftercare.start(
                    "refresh the reconciliation figures",
                    self._refresh,
                    within_seconds=REFRESH_SECONDS,
                )
            await asyncio.wait({self._refreshing}, timeout=wait)
        return self._figures

    async def _refresh(self) -> None:
        at = self._clock.now()
        credits, _ = await self.balance()
        drift = None
        if credits is not None:
            try:
                baseline = await self.baseline()
                if baseline is not None:
                    drift = drift_of(baseline, await self.books(), credits)
            except StoreUnavailable:
                pass  # the drift is unknown this time; the balance is still worth showing
        self._figures = Figures(at, credits, drift)

    async def report(self) -> dict[str, Any]:
        credits, error = await self.balance()
        baseline = await self.baseline()
        report: dict[str, Any] = {
            "rivya": {"current_credits": credits, "error": error, "circuit": self._breaker.state},
            "low_balance_credits": self.low_balance_credits,
            "balance_low": self.is_low(credits),
            "baseline": None,
            "since_baseline": None,
            "drift_credits": None,
            "unexplained_credits": None,
            "suspect_tasks": [],
            "explanation": None,
        }
        if baseline is None:
            report["explanation"] = "No baseline yet: POST /admin/upstream/baseline sets one."
            return report
        books = await self.books()
        report["baseline"] = {
            "rivya_credits": baseline.rivya_credits,
            "set_at": _iso_ms(baseline.set_at_ms),
            "uncertain_credits": baseline.uncertain_credits,
            "restored_at": _iso_ms(baseline.restored_at_ms) if baseline.restored_at_ms else None,
        }
        if credits is None:
            return report
        drift = drift_of(baseline, books, credits)
        report["since_baseline"] = {
            "rivya_spent": drift.rivya_spent,
            "gateway_spent": drift.spent,
            "gateway_reserved": drift.reserved,
        }
        report["drift_credits"] = drift.credits
        report["unexplained_credits"] = drift.unexplained
        suspects = await self._ledger.suspects(
            await self._queue.teams(), since_ms=baseline.set_at_ms, scan=SUSPECT_SCAN_PER_TEAM
        )
        report["suspect_tasks"] = [
            {
                "team": space.partition("@")[0],
                "space": space,
                "ref": entry.ref,
                "task": entry.task,
                "event": entry.event,
                "model": entry.model,
                "spent_change": entry.spent,
                "reserved_change": entry.reserved,
                "at": _iso_ms(entry.at_ms),
            }
            for space, entry in suspects
        ]
        report["explanation"] = _explain(
            drift, books.reserved, bool(suspects), restored=baseline.restored_at_ms is not None
        )
        return report


def _explain(drift: Drift, reserved: int, suspects: bool, *, restored: bool) -> str:
    if drift.credits == 0:
        return "The books match Rivya's balance."
    if restored and drift.unexplained:
        return (
            "Redis lost the gateway's data (baseline.restored_at): the drift is what Rivya "
            "charged that the lost books held, tasks in flight then included. Restore teams and "
            "keys (`teams apply`), adjust budgets for the period, then reset the baseline "
            "(POST /admin/upstream/baseline)."
        )
    if drift.unexplained == 0:
        return (
            "Credits in flight explain the difference: reserved now "
            f"({reserved}) or when the baseline was taken. Look again once they have settled."
        )
    if suspects:
        return (
            "Some creates or tasks were charged without the gateway learning their outcome "
            "(suspect_tasks): their real cost may differ from the charge."
        )
    if drift.unexplained > 0:
        return (
            "No gateway task explains it: credits were spent on the org's Rivya account "
            "outside the gateway (another key, the Rivya console). Reset the baseline "
            "(POST /admin/upstream/baseline) once understood."
        )
    return (
        "Rivya's balance fell by less than the gateway charged: the account was topped up, or "
        "a charge was refunded. Reset the baseline (POST /admin/upstream/baseline) once "
        "understood."
    )


def _iso_ms(ms: int) -> str:
    return iso_timestamp(ms / 1000)
