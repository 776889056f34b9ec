"""The names of a tenant's keys that every create names, made once per tenant: a create's two
scripts name ~30 keys, ~25 of them the same for every create of the tenant."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from app.store.keyspace import KeySpace


class TenantKeys(NamedTuple):
    """The keys of one tenant that every create names, each as ``KeySpace`` names it."""

    team: str
    rate: str
    reservations: str
    pending_creates: str
    active_keys: str
    ledger: str
    token_revocations: str
    scheduled: str
    outbox: str
    key_expiry: str
    key_budgets: str
    team_tasks: str
    settle_due: str
    webhooks: str


# Only tenants that exist get here (a create is admitted after its key's lookup): few.
@lru_cache(maxsize=10_000)
def tenant_keys(keys: KeySpace, tenant: str) -> TenantKeys:
    return TenantKeys(
        team=keys.team(tenant.partition("@")[0]),
        rate=keys.rate(tenant),
        reservations=keys.reservations(tenant),
        pending_creates=keys.pending_creates(tenant),
        active_keys=keys.active_keys(tenant),
        ledger=keys.ledger(tenant),
        token_revocations=keys.token_revocations(tenant),
        scheduled=keys.scheduled(tenant),
        outbox=keys.outbox(tenant),
        key_expiry=keys.key_expiry(tenant),
        key_budgets=keys.key_budgets(tenant),
        team_tasks=keys.team_tasks(tenant),
        settle_due=keys.settle_due(tenant),
        webhooks=keys.webhooks(tenant),
    )
