"""Dependency aliases for routes, declared once: one per collaborator a route uses
(``TasksDep``, ``FilesDep``, ``UsageDep``, …), ``TeamCaller`` (a team key or a browser token),
``KeyCaller`` (a team key only: a token gets 403), their ``…Reader`` forms, ``AdminOnly``,
``IdempotencyKey``, ``WaitSeconds``. All are async: FastAPI runs sync dependencies in a thread
pool, a hop per request for nothing.

A request that carries an ``Origin`` (a browser's) must come from one of its team's
``cors_origins``, whatever its credential: else 403 ``origin_not_allowed``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from app.auth.api_keys import key_id_of
from app.auth.callers import Caller, bearer_token, check_admin
from app.auth.origins import check_origin
from app.catalog import Catalog
from app.domain.tasks import ResultLink, TaskRecord
from app.errors import (
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyMissing,
    ApiKeyRevoked,
    Forbidden,
    TokenExpired,
)
from app.lifecycle import Draining
from app.metrics import Metrics
from app.services.files import FileService
from app.services.health import Health
from app.services.limits import TeamRate
from app.services.metrics_figures import MetricsFigures
from app.services.reconciliation import Reconciliation
from app.services.reports import Reports
from app.services.request_records import RequestLookup
from app.services.result_links import ResultLinks
from app.services.results import ResultCustody
from app.services.task_reads import MAX_WAIT_SECONDS
from app.services.tasks import TaskService
from app.services.teams import TeamService
from app.services.tokens import TokenService
from app.services.usage import UsageService
from app.services.webhooks import WebhookService
from app.settings import Settings
from app.wiring.services import Services

T = TypeVar("T")

# Declared so OpenAPI shows who may call each route (two schemes, so a generated client asks
# for the right credential); the header itself is read and judged by auth.
_team_key = HTTPBearer(
    auto_error=False,
    scheme_name="TeamKey",
    description="A team key (rgw_…). On the routes a browser may use (creating and reading "
    "tasks, uploading files, usage), a browser token from POST /v1/tokens also.",
)
TeamKeyDoc = Annotated[HTTPAuthorizationCredentials | None, Security(_team_key)]
_admin_token = HTTPBearer(
    auto_error=False, scheme_name="AdminToken", description="The gateway's GATEWAY_ADMIN_TOKEN."
)
AdminTokenDoc = Annotated[HTTPAuthorizationCredentials | None, Security(_admin_token)]


def _collaborator(pick: Callable[[Services], T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency on one of the services the lifespan built (``app.state.services``)."""

    async def collaborator(request: Request) -> T:
        services: Services = request.app.state.services
        return pick(services)

    return collaborator


# The whole set: only for the create path's edit route, which shares its handler with the
# create routes (api/create_routes.py: they are served before FastAPI's dependencies).
_services = _collaborator(lambda s: s)
ServicesDep = Annotated[Services, Depends(_services)]


async def _draining(request: Request) -> Draining:
    draining: Draining = request.app.state.draining  # the app's own, made by create_app
    return draining


DrainingDep = Annotated[Draining, Depends(_draining)]


# One alias per collaborator a route uses, so that a route names what it depends on (each made
# outside Annotated[...], where mypy checks what it picks).
_catalog = _collaborator(lambda s: s.catalog)
CatalogDep = Annotated[Catalog, Depends(_catalog)]
_files = _collaborator(lambda s: s.files)
FilesDep = Annotated[FileService, Depends(_files)]
_health = _collaborator(lambda s: s.health)
HealthDep = Annotated[Health, Depends(_health)]
_metrics = _collaborator(lambda s: s.metrics)
MetricsDep = Annotated[Metrics, Depends(_metrics)]
_metrics_figures = _collaborator(lambda s: s.metrics_figures)
MetricsFiguresDep = Annotated[MetricsFigures, Depends(_metrics_figures)]
_reads = _collaborator(lambda s: s.reads)
ReadsDep = Annotated[TeamRate, Depends(_reads)]
_reconciliation = _collaborator(lambda s: s.reconciliation)
ReconciliationDep = Annotated[Reconciliation, Depends(_reconciliation)]
_reports = _collaborator(lambda s: s.reports)
ReportsDep = Annotated[Reports, Depends(_reports)]
_requests = _collaborator(lambda s: s.requests)
RequestsDep = Annotated[RequestLookup, Depends(_requests)]
_results = _collaborator(lambda s: s.results)
ResultsDep = Annotated[ResultCustody, Depends(_results)]
_result_links = _collaborator(lambda s: s.result_links)
ResultLinksDep = Annotated[ResultLinks, Depends(_result_links)]
_settings = _collaborator(lambda s: s.settings)
SettingsDep = Annotated[Settings, Depends(_settings)]
_tasks = _collaborator(lambda s: s.tasks)
TasksDep = Annotated[TaskService, Depends(_tasks)]
_teams = _collaborator(lambda s: s.teams)
TeamsDep = Annotated[TeamService, Depends(_teams)]
_tokens = _collaborator(lambda s: s.tokens)
TokensDep = Annotated[TokenService, Depends(_tokens)]
_usage = _collaborator(lambda s: s.usage)
UsageDep = Annotated[UsageService, Depends(_usage)]
_webhooks = _collaborator(lambda s: s.webhooks)
WebhooksDep = Annotated[WebhookService, Depends(_webhooks)]


def result_linker(services: Services, scope: Scope) -> ResultLink:
    """Links to a task's result files for this request's answer: absolute, on the gateway's
    public URL (``GATEWAY_PUBLIC_URL``, else the URL the request came to), made only when an
    answer has a result to link."""
    base: list[str] = []

    def link(record: TaskRecord, index: int) -> str:
        if not base:
            public = services.settings.gateway_public_url
            base.append(public or str(Request(scope).base_url))
        return services.result_links.link(base[0], record.team, record.id, index)

    return link


async def _result_link(request: Request) -> ResultLink:
    return result_linker(request.app.state.services, request.scope)


# Links to the result files of the tasks an answer shows, for this request.
ResultLinkDep = Annotated[ResultLink, Depends(_result_link)]


async def resolve_team_caller(
    services: Services, authorization: str | None, origin: str | None, client: str | None
) -> Caller:
    """A team key or a browser token, from a request's ``Authorization`` and ``Origin``. A
    client address (or a key id) with too many failed authentications is refused before its
    credential costs a lookup, unless this process already knows the credential is good."""
    caller = services.callers.known_caller(authorization)  # a hot key: no more to do
    if caller is None:
        caller = await _looked_up_caller(services, authorization, client)
    check_origin(origin, caller.team)
    # A caller whose requests keep being refused as invalid is refused before reading more.
    services.refusals.refuse_if_refusing(caller.team.id, caller.subject)
    return caller


async def _looked_up_caller(
    services: Services, authorization: str | None, client: str | None
) -> Caller:
    failures, key_id = services.auth_failures, _key_id(authorization)
    if not services.callers.vouched(authorization):
        failures.refuse_if_failing(client, key_id)
    try:
        return await services.callers.team_caller(authorization)
    except (ApiKeyInvalid, ApiKeyRevoked, ApiKeyExpired, TokenExpired):
        failures.failed(client, key_id)
        raise


def _key_id(authorization: str | None) -> str | None:
    try:
        return key_id_of(bearer_token(authorization))
    except ApiKeyMissing:
        return None


async def _team_caller(request: Request, services: ServicesDep, _: TeamKeyDoc) -> Caller:
    headers, client = request.headers, request.client
    return await resolve_team_caller(
        services, headers.get("authorization"), headers.get("origin"), client and client.host
    )


# A team key, or a browser token: the routes a browser token may use (create and read tasks,
# upload files, its own usage).
TeamCaller = Annotated[Caller, Depends(_team_caller)]


async def _key_caller(caller: TeamCaller) -> Caller:
    if caller.token is not None:
        raise Forbidden(
            "A browser token may only create and read its tasks, upload files and read its "
            "usage; this route needs the team's key."
        )
    return caller


# A team key only: a browser token gets 403 forbidden.
KeyCaller = Annotated[Caller, Depends(_key_caller)]


async def _team_reader(caller: TeamCaller, services: ServicesDep) -> Caller:
    # A browser-token user reads under a bucket of its own, a share of the team's (one user
    # cannot starve the team), and under the team's (minting users reads no more).
    services.reads.check(caller.team.tenant, caller.subject)
    return caller


# A team caller on a read route: counted against the team's read rate (services/limits.py).
TeamReader = Annotated[Caller, Depends(_team_reader)]


async def _key_reader(caller: KeyCaller, services: ServicesDep) -> Caller:
    services.reads.check(caller.team.tenant)
    return caller


KeyReader = Annotated[Caller, Depends(_key_reader)]


async def _optional_team_caller(request: Request, services: ServicesDep) -> Caller | None:
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    return await _key_caller(await _team_caller(request, services, None))


OptionalTeamCaller = Annotated[Caller | None, Depends(_optional_team_caller)]


async def _admin(request: Request, services: ServicesDep, _: AdminTokenDoc) -> None:
    # A wrong admin token counts against its address like a wrong key; past the bound, the
    # address is refused (429) unless it presents the admin token itself.
    authorization, client = request.headers.get("authorization"), request.client
    address = client and client.host
    try:
        check_admin(authorization, services.settings.admin_token)
    except ApiKeyInvalid:
        services.auth_failures.refuse_if_failing(address, None)
        services.auth_failures.failed(address, None)
        raise


AdminOnly = Depends(_admin)

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Same as client_request_id.")
]
# On the drop-in surface, Rivya's meaning: the retry key, and client_request_id a trace id.
RivyaIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="The retry key: when sent, it alone decides what is a repeat, and the "
        "body's client_request_id is your trace id (passed to Rivya as given).",
    ),
]

# ?wait= on a create or a read (api/fastpath.py checks it with this very declaration too).
WaitSeconds = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Hold the answer until the task ends or this many seconds.",
    ),
]
