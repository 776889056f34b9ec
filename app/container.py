"""Everything a request handler (and the settler) may use, built once per app by the lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis

from app.auth.callers import CallerResolver
from app.auth.tokens import TokenSigner
from app.catalog import Catalog
from app.clock import Clock
from app.cors import KnownOrigins
from app.metrics import Metrics
from app.refreshed import Refreshed
from app.services.admission import Admission
from app.services.aftercare import Aftercare
from app.services.alerts import BudgetAlerts, Webhook
from app.services.baselines import Baselines, task_exists_at, upstream_fingerprint
from app.services.files import FileService, UploadLimits
from app.services.forwarding import Forwarder, Resolver
from app.services.health import Health
from app.services.image_checks import ImageCheckLimits, ImageChecks
from app.services.limits import AuthFailures, RefusedRequests, TeamRate
from app.services.observed import Observed
from app.services.reconciliation import Reconciliation
from app.services.repeats import RepeatWaits
from app.services.reports import Reports
from app.services.settlement import PollSchedule, Settlement, SettlePass
from app.services.tasks import TaskService
from app.services.teams import TeamService
from app.services.tokens import TokenService
from app.services.usage import UsageService
from app.settings import Settings, StoreSettings
from app.store.admission import AdmissionStore
from app.store.apikeys import ApiKeyStore
from app.store.baseline_holds import BaselineHolds
from app.store.channel import ScriptChannel
from app.store.files import FileStore
from app.store.keys import KeySpace
from app.store.ledger import LedgerStore
from app.store.outbox import Outbox
from app.store.reconciliation import BaselineStore
from app.store.schedule import DueTeams
from app.store.scripts import Scripts
from app.store.settlement import SettleQueue
from app.store.spend import SpendStore
from app.store.tasks import TaskStore
from app.store.teams import TeamStore
from app.store.tokens import TokenRevocationStore
from app.upstream.client import RivyaClient
from app.worker.settler import Settler


@dataclass(frozen=True)
class Services:
    settings: Settings
    catalog: Catalog
    default_model: str
    health: Health
    callers: CallerResolver
    teams: TeamService
    tasks: TaskService
    files: FileService
    usage: UsageService
    settler: Settler
    aftercare: Aftercare
    reads: TeamRate
    auth_failures: AuthFailures
    refusals: RefusedRequests
    metrics: Metrics
    observed: Observed
    reports: Reports
    reconciliation: Reconciliation
    tokens: TokenService
    known_origins: KnownOrigins


@dataclass(frozen=True)
class AdminServices:
    """What managing teams, keys and spend takes: Redis only, no org key. The app's services
    and the CLI (``rivya-gateway teams|keys|spend``) are both built from it."""

    teams: TeamService
    usage: UsageService
    reports: Reports


def scripts_for(
    settings: StoreSettings, redis: Redis, channel: ScriptChannel | None = None
) -> Scripts:
    return Scripts(
        redis,
        channel=channel,
        ledger_max_entries=settings.ledger_max_entries_per_team,
        token_credits_ttl_seconds=task_retention(settings),
        wait_replicas=settings.replicas_to_wait_for,
        wait_timeout_ms=int(settings.redis_wait_timeout_seconds * 1000),
    )


def build_admin(
    settings: StoreSettings,
    catalog: Catalog,
    redis: Redis,
    clock: Clock,
    *,
    org_balance: Callable[[], Awaitable[int]] | None = None,
) -> AdminServices:
    keys = KeySpace(settings.redis_key_prefix)
    scripts = scripts_for(settings, redis)
    return admin_services(
        TeamStore(redis, keys, scripts),
        ApiKeyStore(redis, keys, scripts),
        SpendStore(redis, keys),
        LedgerStore(redis, keys),
        TaskStore(
            redis,
            keys,
            scripts,
            clock,
            DueTeams(redis, keys, scripts, clock),
            retention_seconds=task_retention(settings),
        ),
        catalog,
        clock,
        org_balance=org_balance,
    )


def admin_services(
    team_store: TeamStore,
    key_store: ApiKeyStore,
    spend: SpendStore,
    ledger: LedgerStore,
    tasks: TaskStore,
    catalog: Catalog,
    clock: Clock,
    *,
    org_balance: Callable[[], Awaitable[int]] | None = None,
) -> AdminServices:
    """The admin services over stores already made (the app's own, or the CLI's)."""
    return AdminServices(
        teams=TeamService(team_store, key_store, catalog, clock),
        usage=UsageService(spend, team_store, clock, org_balance=org_balance),
        reports=Reports(team_store, spend, ledger, tasks, clock),
    )


def task_retention(settings: StoreSettings) -> int:
    return settings.task_retention_days * 86_400


def poll_schedule(settings: Settings) -> PollSchedule:
    return PollSchedule(
        first_min=settings.settler_first_poll_min_seconds,
        first_max=settings.settler_first_poll_max_seconds,
        every_min=settings.settler_poll_min_seconds,
        every_max=settings.settler_poll_max_seconds,
        slow_after=settings.settler_slow_after_seconds,
    )


def build_services(
    settings: Settings,
    catalog: Catalog,
    redis: Redis,
    upstream: RivyaClient,
    clock: Clock,
    metrics: Metrics | None = None,
    *,
    alert_client: httpx.AsyncClient | None = None,
    channel: ScriptChannel | None = None,
    refusals: RefusedRequests | None = None,
) -> Services:
    metrics = metrics or Metrics()
    aftercare = Aftercare()
    keys = KeySpace(settings.redis_key_prefix)
    scripts = scripts_for(settings, redis, channel)
    team_store = TeamStore(redis, keys, scripts)
    key_store = ApiKeyStore(redis, keys, scripts)
    due = DueTeams(redis, keys, scripts, clock)
    alert_thresholds = tuple(settings.budget_alert_thresholds)
    task_store = TaskStore(
        redis,
        keys,
        scripts,
        clock,
        due,
        retention_seconds=task_retention(settings),
        alert_thresholds=alert_thresholds,
    )
    schedule = poll_schedule(settings)
    queue = SettleQueue(redis, keys, scripts, clock, due)
    settlement = Settlement(
        task_store,
        queue,
        upstream,
        clock,
        schedule=schedule,
        settle_pass=SettlePass(
            # A lease must outlast the longest poll: every attempt, the retry budget.
            lease_seconds=max(settings.settler_lease_seconds, settings.create_lease_seconds),
            batch=settings.settler_batch,
            concurrency=settings.settler_concurrency,
            give_up_after_seconds=settings.settler_give_up_after_seconds,
        ),
    )
    admission_store = AdmissionStore(
        redis,
        keys,
        scripts,
        clock,
        due,
        claim_ttl_ms=settings.idempotency_ttl_seconds * 1000,
        lease_ms=int(settings.create_lease_seconds * 1000),
        resend_window_ms=int(settings.rivya_idempotency_window_seconds * 1000),
        first_look_ms=int(settings.settler_first_poll_min_seconds * 1000),
        alert_thresholds=alert_thresholds,
    )
    admission = Admission(
        admission_store,
        clock,
        aftercare,
        metrics,
        in_flight_retry_seconds=max(1, round(settings.settler_first_poll_max_seconds)),
        cancel_wait_seconds=settings.admission_cancel_wait_seconds,
    )
    repeats = RepeatWaits(per_team=settings.idempotency_waiters_per_team)
    forwarder = Forwarder(
        admission_store, task_store, upstream, clock, aftercare, repeats, schedule=schedule
    )
    resolver = Resolver(admission_store, forwarder, concurrency=settings.settler_concurrency)
    files = FileService(
        FileStore(redis, keys, scripts, clock, retention_seconds=task_retention(settings)),
        upstream,
        catalog,
        clock,
        images=ImageChecks(
            ImageCheckLimits(
                workers=settings.image_check_workers,
                decode_bytes=settings.decode_memory_mb * 1_048_576,
                seconds=settings.image_check_seconds,
                wait_seconds=settings.decode_wait_seconds,
            ),
            metrics,
        ),
        limits=UploadLimits(
            per_minute=settings.uploads_per_minute_per_team,
            burst=settings.upload_burst_per_team,
            at_once=settings.uploads_at_once,
            wait_seconds=settings.decode_wait_seconds,
        ),
    )
    spend = SpendStore(redis, keys)
    revocations = TokenRevocationStore(redis, keys, scripts)
    ledger = LedgerStore(redis, keys)
    # The org's balance, asked of Rivya at most once per ORG_BALANCE_CACHE_SECONDS.
    balance = Refreshed(upstream.balance, seconds=settings.org_balance_cache_seconds, now=clock.now)
    org_balance = balance.get
    admin = admin_services(
        team_store, key_store, spend, ledger, task_store, catalog, clock, org_balance=org_balance
    )
    usage = admin.usage
    baselines = Baselines(
        BaselineStore(redis, keys, scripts),
        BaselineHolds(redis, keys),
        spend,
        ledger,
        queue,
        upstream.balance_at,
        lambda task_id: task_exists_at(upstream.get_generation, task_id),
        clock,
        upstream=upstream_fingerprint(settings.rivya_base_url, settings.org_key),
    )
    reconciliation = Reconciliation(
        baselines,
        ledger,
        queue,
        upstream.balance,
        upstream.breaker,
        clock,
        aftercare,
        low_balance_credits=settings.org_balance_low_credits,
        figures_max_age=settings.org_balance_cache_seconds,
    )
    callers = CallerResolver(
        key_store,
        team_store,
        revocations,
        clock,
        cache_seconds=settings.key_cache_seconds,
        signer=token_signer(settings),
    )

    async def every_teams_origins() -> list[list[str]]:
        return [team.cors_origins for team in await team_store.list()]

    return Services(
        settings=settings,
        catalog=catalog,
        default_model=settings.default_model or catalog.default_model,
        health=Health(redis, keys, upstream.breaker),
        callers=callers,
        tokens=TokenService(
            token_signer(settings),
            revocations,
            callers,
            clock,
            team_revocations=TeamRate(
                clock,
                what="revocations",
                per_minute=settings.revocations_per_minute_per_team,
                burst=settings.revocation_burst_per_team,
            ),
        ),
        known_origins=KnownOrigins(every_teams_origins, settings.key_cache_seconds),
        teams=admin.teams,
        tasks=TaskService(
            task_store,
            admission,
            forwarder,
            resolver,
            files,
            settlement,
            clock,
            repeats,
            wait_poll_seconds=settings.wait_poll_seconds,
            in_progress_wait_seconds=settings.idempotency_wait_seconds,
        ),
        files=files,
        usage=usage,
        settler=Settler(
            settlement,
            resolver,
            BudgetAlerts(Outbox(redis, keys, scripts), clock, _webhook(settings, alert_client)),
            due,
            # Twice the longest call (a poll or a resend, every attempt): a pass starts nothing
            # past half its claim, so it ends inside it.
            claim_seconds=2 * max(settings.settler_lease_seconds, settings.create_lease_seconds),
            tick_seconds=settings.settler_tick_seconds,
            teams_at_once=settings.settler_teams_at_once,
            sweep_seconds=settings.settler_sweep_seconds,
        ),
        aftercare=aftercare,
        metrics=metrics,
        observed=Observed(
            usage,
            queue,
            due,
            upstream.breaker,
            clock,
            spend,
            reconciliation,
            cache_seconds=settings.metrics_cache_seconds,
        ),
        reports=admin.reports,
        reconciliation=reconciliation,
        auth_failures=AuthFailures(
            clock,
            per_minute=settings.auth_failures_per_minute,
            burst=settings.auth_failure_burst,
        ),
        refusals=refusals
        or RefusedRequests(
            clock,
            per_minute=settings.refused_requests_per_minute,
            burst=settings.refused_request_burst,
        ),
        reads=TeamRate(
            clock,
            what="reads",
            per_minute=settings.reads_per_minute_per_team,
            burst=settings.read_burst_per_team,
        ),
    )


def token_signer(settings: Settings) -> TokenSigner | None:
    secret, previous = settings.gateway_token_secret, settings.gateway_token_previous_secret
    if secret is None or not secret.get_secret_value():
        return None
    return TokenSigner(secret.get_secret_value(), previous.get_secret_value() if previous else None)


def _webhook(settings: Settings, client: httpx.AsyncClient | None) -> Webhook | None:
    secret = settings.alert_webhook_secret
    if settings.alert_webhook_url is None or secret is None or client is None:
        return None
    return Webhook(
        settings.alert_webhook_url,
        secret.get_secret_value(),
        client,
        attempts=settings.alert_webhook_attempts,
    )
