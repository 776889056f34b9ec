"""Everything a request handler (and the settler) may use, built once per app by the lifespan:
one builder per concern (creates and their settlement, files, access, the books' truth), over
the stores (``wiring/stores.py``) and the open resources (``wiring/resources.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.callers import CallerResolver
from app.catalog import Catalog
from app.clock import Clock
from app.cors import KnownOrigins
from app.metrics import Metrics
from app.refreshed import Refreshed
from app.services.admission import Admission
from app.services.answered import AnsweredWriter, Tallies
from app.services.deliveries import Deliveries
from app.services.files import FileService
from app.services.forwarding import Forwarder, Resolver
from app.services.health import Health
from app.services.image_checks import ImageChecks
from app.services.limits import AuthFailures, RefusedRequests, TeamRate
from app.services.metrics_figures import MetricsFigures
from app.services.reconciliation import Reconciliation
from app.services.repeat_waits import RepeatWaits
from app.services.reports import Reports
from app.services.request_records import RequestLookup
from app.services.result_links import ResultLinks, link_secret
from app.services.results import ResultCustody
from app.services.rivya_hints import RivyaHints
from app.services.settlement import Settlement
from app.services.tasks import TaskService
from app.services.teams import TeamService
from app.services.tokens import TokenService
from app.services.unfinished_writes import UnfinishedWrites
from app.services.usage import UsageService
from app.services.webhooks import WebhookService
from app.settings import Settings
from app.store.objects import ResultObjects, open_store
from app.store.task_news import TaskNews
from app.upstream.client import RivyaClient
from app.upstream.downloads import ResultDownloads
from app.wiring.access import access
from app.wiring.admin import admin_services
from app.wiring.books import books_truth
from app.wiring.resources import Resources
from app.wiring.stores import Stores, stores
from app.wiring.webhooks import rivya_hints, webhook_parts
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
    unfinished_writes: UnfinishedWrites
    reads: TeamRate
    auth_failures: AuthFailures
    refusals: RefusedRequests
    requests: RequestLookup
    answered: AnsweredWriter
    metrics: Metrics
    metrics_figures: MetricsFigures
    reports: Reports
    reconciliation: Reconciliation
    tokens: TokenService
    known_origins: KnownOrigins
    results: ResultCustody
    result_links: ResultLinks
    webhooks: WebhookService
    rivya_hints: RivyaHints | None  # None: RIVYA_WEBHOOK_URL unset, no hints


@dataclass(frozen=True)
class _Parts:
    """What every builder below draws on."""

    settings: Settings
    catalog: Catalog
    stores: Stores
    upstream: RivyaClient
    clock: Clock
    metrics: Metrics
    unfinished_writes: UnfinishedWrites


def build_services(
    settings: Settings,
    catalog: Catalog,
    resources: Resources,
    clock: Clock,
    metrics: Metrics,
    refusals: RefusedRequests,
    tallies: Tallies,
) -> Services:
    store = stores(settings, resources.redis, clock, resources.channel)
    parts = _Parts(settings, catalog, store, resources.upstream, clock, metrics, UnfinishedWrites())
    upstream = parts.upstream
    admin = admin_services(store, catalog, clock, org_balance=_org_balance(parts).get)
    results = _results(parts, resources)
    settlement = _settlement(parts, results)
    files = _files(parts)
    tasks, resolver = _tasks(parts, settlement, files)
    reconciliation = books_truth(settings, store, upstream, clock, parts.unfinished_writes)
    door = access(settings, store, clock)  # who may call, and how often
    links = _result_links(settings, clock)
    hooks = webhook_parts(settings, store, resources, clock, metrics, links)
    settler = _settler(parts, settlement, resolver, hooks.deliveries, results)
    return Services(
        settings=settings,
        catalog=catalog,
        default_model=settings.default_model or catalog.default_model,
        health=Health(store.redis, store.keys, upstream.breaker),
        callers=door.callers,
        tokens=door.tokens,
        known_origins=door.known_origins,
        auth_failures=door.auth_failures,
        reads=door.reads,
        teams=admin.teams,
        tasks=tasks,
        files=files,
        usage=admin.usage,
        settler=settler,
        unfinished_writes=parts.unfinished_writes,
        metrics=metrics,
        metrics_figures=_metrics_figures(parts, admin.usage, reconciliation),
        reports=admin.reports,
        reconciliation=reconciliation,
        refusals=refusals,
        requests=admin.requests,
        answered=AnsweredWriter(tallies, store.spend, store.requests, store.api_keys, clock),
        results=results,
        result_links=links,
        webhooks=hooks.service,
        rivya_hints=rivya_hints(settings, store, upstream, settler.wake),
    )


def _org_balance(parts: _Parts) -> Refreshed[int]:
    """The org's balance, asked of Rivya at most once per ORG_BALANCE_CACHE_SECONDS."""
    seconds = parts.settings.org_balance_cache_seconds
    return Refreshed(parts.upstream.balance, seconds=seconds, now=parts.clock.now)


def _result_links(settings: Settings, clock: Clock) -> ResultLinks:
    configured = settings.result_link_secret
    secret = configured.get_secret_value() if configured is not None else None
    return ResultLinks(
        link_secret(secret, settings.org_key), clock, seconds=settings.result_link_seconds
    )


def _metrics_figures(
    parts: _Parts, usage: UsageService, reconciliation: Reconciliation
) -> MetricsFigures:
    stores = parts.stores
    return MetricsFigures(
        usage,
        stores.queue,
        stores.due,
        parts.upstream.breaker,
        parts.clock,
        stores.spend,
        reconciliation,
        cache_seconds=parts.settings.metrics_cache_seconds,
    )


def _results(parts: _Parts, resources: Resources) -> ResultCustody:
    settings, stores = parts.settings, parts.stores
    policy = settings.custody_policy
    return ResultCustody(
        stores.tasks,
        stores.results,
        ResultObjects(open_store(settings.results_store_url, settings.results_dir)),
        ResultDownloads(resources.downloads, max_bytes=policy.max_bytes),
        stores.teams,
        parts.clock,
        policy=policy,
    )


def _settlement(parts: _Parts, results: ResultCustody) -> Settlement:
    settings, stores = parts.settings, parts.stores
    return Settlement(
        stores.tasks,
        stores.queue,
        parts.upstream,
        parts.clock,
        schedule=settings.poll_schedule,
        settle_pass=settings.settle_pass,
        results=results,
        news=TaskNews(stores.redis, stores.keys),
    )


def _tasks(
    parts: _Parts, settlement: Settlement, files: FileService
) -> tuple[TaskService, Resolver]:
    settings, stores, clock = parts.settings, parts.stores, parts.clock
    admission = Admission(
        stores.admission,
        clock,
        parts.unfinished_writes,
        parts.metrics,
        in_flight_retry_seconds=max(1, round(settings.settler_first_poll_max_seconds)),
        cancel_wait_seconds=settings.admission_cancel_wait_seconds,
    )
    repeats = RepeatWaits(per_team=settings.idempotency_waiters_per_team)
    forwarder = Forwarder(
        stores.admission,
        stores.tasks,
        parts.upstream,
        clock,
        parts.unfinished_writes,
        repeats,
        schedule=settings.poll_schedule,
    )
    resolver = Resolver(stores.admission, forwarder, concurrency=settings.settler_concurrency)
    tasks = TaskService(
        stores.tasks,
        admission,
        forwarder,
        resolver,
        files,
        settlement,
        clock,
        repeats,
        wait_poll_seconds=settings.wait_poll_seconds,
        in_progress_wait_seconds=settings.idempotency_wait_seconds,
    )
    return tasks, resolver


def _files(parts: _Parts) -> FileService:
    settings = parts.settings
    return FileService(
        parts.stores.files,
        parts.upstream,
        parts.catalog,
        parts.clock,
        images=ImageChecks(settings.image_check_limits, parts.metrics),
        limits=settings.upload_limits,
    )


def _settler(
    parts: _Parts,
    settlement: Settlement,
    resolver: Resolver,
    deliveries: Deliveries,
    results: ResultCustody,
) -> Settler:
    settings = parts.settings
    return Settler(
        settlement,
        resolver,
        deliveries,
        parts.stores.due,
        results=results,
        # Twice the longest call (a poll or a resend, every attempt): a pass starts nothing
        # past half its claim, so it ends inside it.
        claim_seconds=2 * settings.upstream_call_seconds,
        tick_seconds=settings.settler_tick_seconds,
        teams_at_once=settings.settler_teams_at_once,
        sweep_seconds=settings.settler_sweep_seconds,
    )
