"""Reconciliation with Rivya: do the gateway's books match what the org's balance fell by?

Rivya takes a task's credits from the balance when it creates the task and gives them back if
the task fails; the gateway reserves them at admission and settles them to ``final_credits``.
So from a baseline (Rivya's balance and the gateway's totals at one moment) on:

    drift = (baseline balance - balance now) - (spent since) - (reserved now - reserved then)

is 0 when every credit Rivya took is on some team's books. It is briefly negative while a
create is admitted but not yet at Rivya, and lastingly off when credits moved without the
gateway knowing (another key on the org's account, a top-up) or when the gateway charged
without knowing the outcome (a create or task given up: the ledger's suspect events).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.clock import Clock
from app.errors import GatewayError
from app.store.ledger import LedgerStore
from app.store.reconciliation import Baseline, BaselineStore
from app.store.settlement import SettleQueue
from app.store.spend import SpendStore
from app.upstream.failures import UpstreamFailure
from app.upstream.resilience import CircuitBreaker

log = logging.getLogger("app.reconciliation")

SUSPECT_SCAN_PER_TEAM = 1000  # ledger entries read per team for suspects: bounded work


@dataclass(frozen=True)
class Books:
    """The gateway's totals over every team, deleted ones included."""

    spent: int
    reserved: int


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
        *,
        low_balance_credits: int | None,
    ) -> None:
        self._baselines, self._spend, self._ledger = baselines, spend, ledger
        self._queue, self._balance, self._breaker, self._clock = queue, balance, breaker, clock
        self._cached_balance = cached_balance
        self.low_balance_credits = low_balance_credits
        self._was_low = False

    async def books(self) -> Books:
        flows = await self._spend.flows(await self._queue.teams())
        return Books(sum(f.spent for f in flows), sum(f.reserved for f in flows))

    async def set_baseline(self, *, at_start: bool = False) -> Baseline | None:
        """Take Rivya's balance and the gateway's books now as the baseline. Best taken while
        nothing is in flight: a create admitted but not yet at Rivya would count as drift.
        ``at_start``: only if there is none yet, with the balance this process caches (so the
        start costs Rivya one call, shared with the first reads)."""
        if at_start and await self._baselines.get() is not None:
            return None
        books = await self.books()
        baseline = Baseline(
            rivya_credits=await (self._cached_balance if at_start else self._balance)(),
            gateway_spent=books.spent,
            gateway_reserved=books.reserved,
            set_at_ms=int(self._clock.now() * 1000),
        )
        stored = await self._baselines.put(baseline, only_if_absent=at_start)
        return baseline if stored else None

    async def balance(self, *, cached: bool = False) -> tuple[int | None, str | None]:
        """Rivya's balance (``cached``: as this process last asked, for scrapes), or why it
        could not be read; warns once as it falls below the threshold."""
        try:
            credits = await (self._cached_balance if cached else self._balance)()
        except UpstreamFailure as failure:
            return None, failure.contract_error().message
        except GatewayError as refused:  # the circuit is open
            return None, refused.message
        self.note_balance(credits)
        return credits, None

    def note_balance(self, credits: int) -> None:
        low = self.low_balance_credits is not None and credits < self.low_balance_credits
        if low and not self._was_low:
            log.warning(
                "rivya balance low",
                extra={"current_credits": credits, "threshold": self.low_balance_credits},
            )
        self._was_low = low

    def is_low(self, credits: int | None) -> bool:
        threshold = self.low_balance_credits
        return threshold is not None and credits is not None and credits < threshold

    async def report(self) -> dict[str, Any]:
        credits, error = await self.balance()
        baseline = await self._baselines.get()
        report: dict[str, Any] = {
            "rivya": {
                "current_credits": credits,
                "error": error,
                "circuit": self._breaker.state,
            },
            "low_balance_credits": self.low_balance_credits,
            "balance_low": self.is_low(credits),
            "baseline": None,
            "since_baseline": None,
            "drift_credits": None,
            "suspect_tasks": [],
            "explanation": None,
        }
        if baseline is None:
            return report
        books = await self.books()
        rivya_spent, spent, reserved, drift = _since(baseline, books, credits)
        report["baseline"] = {
            "rivya_credits": baseline.rivya_credits,
            "set_at": _iso_ms(baseline.set_at_ms),
        }
        report["since_baseline"] = {
            "rivya_spent": rivya_spent,
            "gateway_spent": spent,
            "gateway_reserved": reserved,
        }
        if drift is None:
            return report
        report["drift_credits"] = drift
        suspects = await self._ledger.suspects(
            await self._queue.teams(), since_ms=baseline.set_at_ms, scan=SUSPECT_SCAN_PER_TEAM
        )
        report["suspect_tasks"] = [
            {
                "team": space.partition("@")[0],
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
        report["explanation"] = _explain(drift, books.reserved, bool(suspects))
        return report

    async def drift(self) -> tuple[int | None, int | None]:
        """Rivya's balance (as cached) and the drift, for scrapes: None where unknown."""
        credits, _ = await self.balance(cached=True)
        baseline = await self._baselines.get()
        if baseline is None:
            return credits, None
        return credits, _since(baseline, await self.books(), credits)[3]


def _since(
    baseline: Baseline, books: Books, credits: int | None
) -> tuple[int | None, int, int, int | None]:
    """Since the baseline: what Rivya's balance fell by, what the gateway charged, how much
    more it holds, and the drift (None without Rivya's balance)."""
    spent = books.spent - baseline.gateway_spent
    reserved = books.reserved - baseline.gateway_reserved
    if credits is None:
        return None, spent, reserved, None
    rivya_spent = baseline.rivya_credits - credits
    return rivya_spent, spent, reserved, rivya_spent - spent - reserved


def _explain(drift: int, reserved: int, suspects: bool) -> str:
    if drift == 0:
        return "The books match Rivya's balance."
    if drift < 0 and reserved > 0:
        return (
            "The gateway holds reservations for creates Rivya may not have reached yet; "
            "look again once nothing is in flight."
        )
    if suspects:
        return (
            "Some creates or tasks were charged without the gateway learning their outcome "
            "(suspect_tasks): their real cost may differ from the charge."
        )
    if drift > 0:
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
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
