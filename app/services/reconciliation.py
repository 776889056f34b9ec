"""Reconciliation with Rivya: do the gateway's books match what the org's balance fell by?

Rivya takes a task's credits from the balance when it creates the task and gives them back if
the task fails; the gateway reserves them at admission and settles them to ``final_credits``.
So from a baseline (Rivya's balance and the gateway's totals at one moment) on:

    drift = (baseline balance - balance now) - (spent since) - (reserved now - reserved then)

is 0 when every credit Rivya took is on some team's books. Two things move it without anything
being wrong, and both are bounded: credits reserved now may not be at Rivya yet (a create
admitted, not yet sent; a task failed and refunded, not yet settled), which can make drift
negative by up to what is reserved now; and the reservations the baseline held (a task Rivya
may have refunded before its balance was read) can make it positive by up to what of them is
still held (services/baselines.py: 0 once they have settled). What lies beyond those bounds is
**unexplained**: credits moved without the gateway knowing (another key on the org's account,
a top-up), or the gateway charged without knowing the outcome (the ledger's suspect events).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.clock import Clock, iso_timestamp
from app.domain.reconciliation import Baseline, Placed
from app.errors import GatewayError, StoreUnavailable
from app.services.baselines import Baselines, Books
from app.services.unfinished_writes import UnfinishedWrites
from app.store.ledger import LedgerStore
from app.store.settlement import SettleQueue
from app.upstream.failures import UpstreamFailure
from app.upstream.resilience import CircuitBreaker
from app.upstream_errors import error_for

log = logging.getLogger("app.reconciliation")

SUSPECTS_PER_TEAM = 1000  # suspect entries listed per team in one report: a bounded answer
REFRESH_SECONDS = 60.0  # the longest one refresh of the figures for scrapes may take


@dataclass(frozen=True)
class Drift:
    rivya_spent: int  # what Rivya's balance fell by since the baseline
    spent: int  # what the gateway charged since
    reserved: int  # how much more it holds than then
    credits: int  # rivya_spent - spent - reserved
    unexplained: int  # the part no credits in flight (now or held at the baseline) explain


@dataclass(frozen=True)
class Figures:
    """For scrapes: Rivya's balance and the drift, read together (the books right after the
    balance), at ``at``. None where unknown."""

    at: float
    balance: int | None
    drift: Drift | None


def drift_of(baseline: Baseline, books: Books, balance: int, placed: Placed) -> Drift:
    """``placed``: what became of the holds the baseline could not place (baselines.py)."""
    rivya_spent = baseline.rivya_credits - balance
    spent = books.spent - baseline.gateway_spent
    reserved = books.reserved - baseline.gateway_reserved
    # What the baseline's own holds explain, once placed: not drift.
    credits = rivya_spent - spent - reserved - placed.explained
    uncertain = placed.uncertain
    if credits > uncertain:
        unexplained = credits - uncertain
    elif credits < -books.reserved:
        unexplained = credits + books.reserved
    else:
        unexplained = 0
    return Drift(rivya_spent, spent, reserved, credits, unexplained)


class Reconciliation:
    def __init__(
        self,
        baselines: Baselines,
        ledger: LedgerStore,
        queue: SettleQueue,
        balance: Callable[[], Awaitable[int]],
        breaker: CircuitBreaker,
        clock: Clock,
        unfinished: UnfinishedWrites,
        *,
        low_balance_credits: int | None,
        figures_max_age: float,
    ) -> None:
        self.baselines, self._ledger, self._queue = baselines, ledger, queue
        self._balance, self._breaker, self._clock = balance, breaker, clock
        self._unfinished = unfinished
        self.low_balance_credits = low_balance_credits
        self._max_age = figures_max_age
        self._was_low = False
        self._figures: Figures | None = None
        self._refreshing: asyncio.Task[Any] | None = None

    async def drift(self, balance: int) -> tuple[Baseline, Books, Drift] | None:
        """The drift from the baseline (None: there is none yet). An unexplained drift first
        asks whether the upstream is still the one the baseline was taken against: if Rivya
        forgot a task the books say it made, the baseline is replaced, and the drift is
        counted from the new one."""
        baseline = await self.baselines.current()
        if baseline is None:
            return None
        books = await self.baselines.books()
        drift = drift_of(baseline, books, balance, await self.baselines.placed(baseline))
        if drift.unexplained and await self.baselines.forgotten(baseline) is not None:
            return await self.drift(await self._balance())
        return baseline, books, drift

    async def balance(self) -> tuple[int | None, str | None]:
        """Rivya's balance, or why it could not be read; warns once as it falls below the
        threshold."""
        try:
            credits = await self._balance()
        except UpstreamFailure as failure:
            return None, error_for(failure).message
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
                self._refreshing = self._unfinished.start(
                    "refresh the reconciliation figures",
                    self._refresh,
                    within_seconds=REFRESH_SECONDS,
                    chore=True,
                )
            await asyncio.wait({self._refreshing}, timeout=wait)
        return self._figures

    async def _refresh(self) -> None:
        at = self._clock.now()
        credits, _ = await self.balance()
        drift = None
        if credits is not None:
            try:
                found = await self.drift(credits)
                drift = found[2] if found else None
            except StoreUnavailable:
                pass  # the drift is unknown this time; the balance is still worth showing
        self._figures = Figures(at, credits, drift)

    async def report(self) -> dict[str, Any]:
        """``GET /admin/upstream``: Rivya's balance, the baseline and the drift since it, the
        suspect tasks, and what to make of them."""
        credits, error = await self.balance()
        found = await self.drift(credits) if credits is not None else None
        baseline = found[0] if found else await self.baselines.current()
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
        report["baseline"] = await self._baseline_report(baseline)
        if found is None:
            return report
        _, books, drift = found
        report["since_baseline"] = {
            "rivya_spent": drift.rivya_spent,
            "gateway_spent": drift.spent,
            "gateway_reserved": drift.reserved,
        }
        report["drift_credits"] = drift.credits
        report["unexplained_credits"] = drift.unexplained
        suspects = await self._suspects(baseline)
        report["suspect_tasks"] = suspects
        report["explanation"] = _explain(
            drift, books.reserved, bool(suspects), restored=baseline.restored_at_ms is not None
        )
        return report

    async def _baseline_report(self, baseline: Baseline) -> dict[str, Any]:
        return {
            "rivya_credits": baseline.rivya_credits,
            "set_at": _iso_ms(baseline.set_at_ms),
            "uncertain_credits": baseline.uncertain_credits,
            "still_uncertain_credits": (await self.baselines.placed(baseline)).uncertain,
            "restored_at": _iso_ms(baseline.restored_at_ms) if baseline.restored_at_ms else None,
        }

    async def _suspects(self, baseline: Baseline) -> list[dict[str, Any]]:
        """The ledger's suspect events since the baseline: charges made without the gateway
        learning the outcome, of every team (at most SUSPECTS_PER_TEAM each)."""
        suspects = await self._ledger.suspects(
            await self._queue.teams(), since_ms=baseline.set_at_ms, limit=SUSPECTS_PER_TEAM
        )
        return [
            {
                "team": tenant.partition("@")[0],
                "tenant": tenant,
                "ref": entry.ref,
                "task": entry.task,
                "event": entry.event,
                "model": entry.model,
                "spent_change": entry.spent,
                "reserved_change": entry.reserved,
                "at": _iso_ms(entry.at_ms),
            }
            for tenant, entry in suspects
        ]


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
            f"({reserved}), or held when the baseline was taken and not settled yet "
            "(baseline.still_uncertain_credits). Look again once they have settled."
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
