"""The books' truth: the reconciliation of the gateway's books with Rivya's balance, and the
baselines it counts from."""

from __future__ import annotations

from app.clock import Clock
from app.services.baselines import Baselines, task_exists_at, upstream_fingerprint
from app.services.reconciliation import Reconciliation
from app.services.unfinished_writes import UnfinishedWrites
from app.settings import Settings
from app.upstream.client import RivyaClient
from app.wiring.stores import Stores


def books_truth(
    settings: Settings,
    stores: Stores,
    upstream: RivyaClient,
    clock: Clock,
    unfinished_writes: UnfinishedWrites,
) -> Reconciliation:
    baselines = Baselines(
        stores.baselines,
        stores.baseline_holds,
        stores.spend,
        stores.ledger,
        stores.queue,
        upstream.balance_at,
        lambda task_id: task_exists_at(upstream.get_generation, task_id),
        clock,
        upstream=upstream_fingerprint(settings.rivya_base_url, settings.org_key),
    )
    return Reconciliation(
        baselines,
        stores.ledger,
        stores.queue,
        upstream.balance,
        upstream.breaker,
        clock,
        unfinished_writes,
        low_balance_credits=settings.org_balance_low_credits,
        figures_max_age=settings.org_balance_cache_seconds,
    )
