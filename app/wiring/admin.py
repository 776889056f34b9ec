"""The admin services: managing teams, keys and spend takes Redis only, no org key. The app's
services and the CLI (``rivya-gateway teams|keys|spend``) are both built from them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from app.catalog import Catalog
from app.clock import Clock
from app.services.reports import Reports
from app.services.request_records import RequestLookup
from app.services.teams import TeamService
from app.services.usage import UsageService
from app.settings import StoreSettings
from app.wiring.stores import AdminStores, admin_stores


@dataclass(frozen=True)
class AdminServices:
    teams: TeamService
    usage: UsageService
    reports: Reports
    requests: RequestLookup


def admin_services(
    stores: AdminStores,
    catalog: Catalog,
    clock: Clock,
    *,
    org_balance: Callable[[], Awaitable[int]] | None = None,
) -> AdminServices:
    return AdminServices(
        teams=TeamService(stores, catalog, clock),
        usage=UsageService(
            stores.spend, stores.teams, stores.results, clock, org_balance=org_balance
        ),
        reports=Reports(stores.teams, stores.spend, stores.ledger, stores.tasks, clock),
        requests=RequestLookup(stores.requests),
    )


def build_admin(
    settings: StoreSettings, catalog: Catalog, redis: Redis, clock: Clock
) -> AdminServices:
    """The CLI's: no org key, so no org balance."""
    return admin_services(admin_stores(settings, redis, clock), catalog, clock)
