"""Every store over one Redis, made once: the app's services and the admin CLI share them."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from app.clock import Clock
from app.settings import Settings, StoreSettings
from app.store.admission import AdmissionStore
from app.store.api_keys import ApiKeyStore
from app.store.baseline_holds import BaselineHolds
from app.store.channel import ScriptChannel
from app.store.files import FileStore
from app.store.keyspace import KeySpace
from app.store.ledger import LedgerStore
from app.store.outbox import Outbox
from app.store.reconciliation import BaselineStore
from app.store.request_log import RequestLogStore
from app.store.results import ResultStore
from app.store.schedule import DueTeams
from app.store.scripts import Scripts
from app.store.settlement import SettleQueue
from app.store.spend import SpendStore
from app.store.tasks import TaskStore
from app.store.teams import TeamStore
from app.store.tokens import TokenRevocationStore
from app.store.webhooks import WebhookStore


def scripts_for(
    settings: StoreSettings, redis: Redis, channel: ScriptChannel | None = None
) -> Scripts:
    return Scripts(
        redis,
        channel=channel,
        ledger_max_entries=settings.ledger_max_entries_per_team,
        token_credits_ttl_seconds=settings.task_retention_seconds,
        webhook_max_backlog=settings.webhook_max_backlog,
        wait_replicas=settings.replicas_to_wait_for,
        wait_timeout_ms=int(settings.redis_wait_timeout_seconds * 1000),
    )


@dataclass(frozen=True)
class AdminStores:
    """What managing teams, keys and spend reads and writes."""

    redis: Redis
    keys: KeySpace
    scripts: Scripts
    teams: TeamStore
    api_keys: ApiKeyStore
    spend: SpendStore
    ledger: LedgerStore
    due: DueTeams
    tasks: TaskStore
    requests: RequestLogStore
    results: ResultStore


def admin_stores(
    settings: StoreSettings,
    redis: Redis,
    clock: Clock,
    *,
    channel: ScriptChannel | None = None,
    alert_thresholds: tuple[int, ...] = (),
) -> AdminStores:
    keys = KeySpace(settings.redis_key_prefix)
    scripts = scripts_for(settings, redis, channel)
    due = DueTeams(redis, keys, scripts, clock)
    return AdminStores(
        redis=redis,
        keys=keys,
        scripts=scripts,
        teams=TeamStore(redis, keys, scripts),
        api_keys=ApiKeyStore(redis, keys, scripts),
        spend=SpendStore(redis, keys),
        ledger=LedgerStore(redis, keys),
        due=due,
        tasks=TaskStore(
            redis,
            keys,
            scripts,
            clock,
            due,
            retention_seconds=settings.task_retention_seconds,
            alert_thresholds=alert_thresholds,
        ),
        requests=RequestLogStore(redis, keys, clock, retention_hours=settings.request_record_hours),
        results=ResultStore(redis, keys, scripts, clock, due),
    )


@dataclass(frozen=True)
class Stores(AdminStores):
    """Every store the gateway process uses."""

    queue: SettleQueue
    admission: AdmissionStore
    files: FileStore
    revocations: TokenRevocationStore
    baselines: BaselineStore
    baseline_holds: BaselineHolds
    outbox: Outbox
    webhooks: WebhookStore


def stores(settings: Settings, redis: Redis, clock: Clock, channel: ScriptChannel | None) -> Stores:
    thresholds = tuple(settings.budget_alert_thresholds)
    admin = admin_stores(settings, redis, clock, channel=channel, alert_thresholds=thresholds)
    keys, scripts, due = admin.keys, admin.scripts, admin.due
    return Stores(
        redis=redis,
        keys=keys,
        scripts=scripts,
        teams=admin.teams,
        api_keys=admin.api_keys,
        spend=admin.spend,
        ledger=admin.ledger,
        due=due,
        tasks=admin.tasks,
        requests=admin.requests,
        results=admin.results,
        queue=SettleQueue(redis, keys, scripts, clock, due),
        admission=AdmissionStore(
            redis,
            keys,
            scripts,
            clock,
            due,
            claim_ttl_ms=settings.idempotency_ttl_seconds * 1000,
            lease_ms=int(settings.create_lease_seconds * 1000),
            resend_window_ms=int(settings.rivya_idempotency_window_seconds * 1000),
            first_look_ms=int(settings.settler_first_poll_min_seconds * 1000),
            alert_thresholds=thresholds,
        ),
        files=FileStore(
            redis, keys, scripts, clock, retention_seconds=settings.task_retention_seconds
        ),
        revocations=TokenRevocationStore(redis, keys, scripts),
        baselines=BaselineStore(redis, keys, scripts),
        baseline_holds=BaselineHolds(redis, keys),
        outbox=Outbox(redis, keys, scripts, clock, due),
        webhooks=WebhookStore(redis, keys, scripts),
    )
