"""Every refusal counted, in one place that ``/metrics``, ``/admin/spend`` and the dashboard all
read: a refusal is a 4xx answer to a team's request, counted by the contract's code the caller
got (``budget_exceeded``, ``model_not_allowed``, ``api_key_revoked``, ``validation_failed``, …).

The admission script counts the refusals it decides (budget, rates, in flight, a token's cap)
in the period's books, in the same round trip as its decision. Every other refusal is tallied
here, in memory, and written to the same period hashes in batches, off the request's path (a
process that dies loses at most its last second of counts: they are for ops, not money). Every
refusal also counts in ``gateway_refusals_total{reason,team}`` of this process."""

from __future__ import annotations

from collections import Counter

from app.context import RequestContext
from app.metrics import Metrics

# Teams x codes is small; a tally past this many distinct pairs between two flushes (a flood of
# teams) is dropped, not kept growing.
MAX_PENDING_PAIRS = 10_000


class RefusalCounts:
    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self._pending: Counter[tuple[str, str]] = Counter()  # (tenant, code) -> refusals

    def answered(self, ctx: RequestContext, status: int) -> None:
        if not 400 <= status < 500 or ctx.team is None or ctx.error_code is None:
            return
        if self._metrics is not None:
            self._metrics.refusals.labels(ctx.error_code, ctx.team).inc()
        if ctx.refusal_counted or ctx.tenant is None:
            return
        pair = (ctx.tenant, ctx.error_code)
        if pair in self._pending or len(self._pending) < MAX_PENDING_PAIRS:
            self._pending[pair] += 1

    def drain(self) -> dict[tuple[str, str], int]:
        """The refusals tallied since the last drain, to be written to the books."""
        pending, self._pending = dict(self._pending), Counter()
        return pending

    def put_back(self, counts: dict[tuple[str, str], int]) -> None:
        """A write that failed (Redis unavailable): kept for the next one."""
        for pair, count in counts.items():
            if pair in self._pending or len(self._pending) < MAX_PENDING_PAIRS:
                self._pending[pair] += count
