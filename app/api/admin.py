"""The admin API (CONTRACT §7), behind ``GATEWAY_ADMIN_TOKEN``: teams and their keys; spend,
the ledger and tasks across teams; the reconciliation with Rivya's balance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from app.api.documented_errors import ADMIN, answers
from app.deps import (
    AdminOnly,
    ReconciliationDep,
    ReportsDep,
    RequestsDep,
    ResultLinkDep,
    TeamsDep,
    UsageDep,
)
from app.domain.teams import Team
from app.errors import AlreadyExists, NotFound, ValidationFailed
from app.periods import REPORT_PERIOD_FORMS, REPORT_PERIOD_PATTERN
from app.rivya_schemas import TaskStatus
from app.schemas.admin import (
    DailySpend,
    KeyList,
    LedgerPage,
    Reconciliation,
    RequestOut,
    SpendReport,
    TeamList,
    TeamTask,
    TeamTaskList,
)
from app.schemas.teams import (
    KeyBudgetFields,
    KeyCreate,
    KeyCreated,
    KeyOut,
    KeyRevoke,
    TeamCreate,
    TeamPatch,
)
from app.services.listings import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[AdminOnly], responses=answers(*ADMIN)
)
_TEAM = answers(NotFound)  # routes naming a team (or key) that may not exist


@router.post("/teams", status_code=201, responses=answers(AlreadyExists), summary="Create a team")
async def create_team(body: TeamCreate, teams: TeamsDep) -> Team:
    return await teams.create(body.model_dump())


@router.get("/teams", summary="List teams")
async def list_teams(teams: TeamsDep) -> TeamList:
    return TeamList(data=await teams.list_teams())


@router.get("/teams/{team_id}", responses=_TEAM, summary="Read a team")
async def get_team(team_id: str, teams: TeamsDep) -> Team:
    return await teams.get(team_id)


@router.patch("/teams/{team_id}", responses=_TEAM, summary="Change some of a team's settings")
async def update_team(team_id: str, body: TeamPatch, teams: TeamsDep) -> Team:
    return await teams.update(team_id, body.model_dump(exclude_unset=True))


@router.delete(
    "/teams/{team_id}", responses=_TEAM, status_code=204, summary="Delete a team, revoking its keys"
)
async def delete_team(team_id: str, teams: TeamsDep) -> Response:
    await teams.delete(team_id)
    return Response(status_code=204)


@router.post(
    "/teams/{team_id}/keys", responses=_TEAM, status_code=201, summary="Issue a key (shown once)"
)
async def create_key(team_id: str, teams: TeamsDep, body: KeyCreate | None = None) -> KeyCreated:
    body = body or KeyCreate()
    expires = body.expires_at.timestamp() if body.expires_at else None
    issued = await teams.issue_key(team_id, body.name, expires, body.key_budget())
    return KeyCreated(**KeyOut.of(issued.standing).model_dump(), key=issued.key)


@router.get("/teams/{team_id}/keys", responses=_TEAM, summary="List a team's keys (no secrets)")
async def list_keys(team_id: str, teams: TeamsDep) -> KeyList:
    return KeyList(data=[KeyOut.of(r) for r in await teams.list_keys(team_id)])


@router.get("/spend", summary="Spend per team against budget, tasks by status, and totals")
async def get_spend(
    usage: UsageDep,
    period: Annotated[
        str,
        Query(
            pattern=REPORT_PERIOD_PATTERN,
            description=f"{REPORT_PERIOD_FORMS}; current is each team's own period",
        ),
    ] = "current",
) -> SpendReport:
    return SpendReport.model_validate(await usage.report(period))


_Days = Annotated[int, Query(ge=1, le=400, description="How many days, ending today")]
_OneTeam = Annotated[str | None, Query(description="One team only")]


@router.get(
    "/spend/daily",
    response_model=DailySpend,
    responses=_TEAM,
    summary="Spend per team per UTC day",
)
async def get_daily_spend(
    reports: ReportsDep,
    days: _Days = 30,
    team: _OneTeam = None,
    format: Annotated[  # before the CSV had its own route; kept for scripts that send it
        str, Query(pattern="^(json|csv)$", include_in_schema=False)
    ] = "json",
) -> Response:
    if format == "csv":
        return await get_daily_spend_csv(reports, days, team)
    return JSONResponse(DailySpend.model_validate(await reports.daily(days, team)).model_dump())


@router.get(
    "/spend/daily.csv",
    response_class=Response,
    responses={
        **_TEAM,
        200: {
            "description": "A header line, then one line per team per day.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
    summary="Spend per team per UTC day, as CSV for export",
)
async def get_daily_spend_csv(
    reports: ReportsDep, days: _Days = 30, team: _OneTeam = None
) -> Response:
    return Response(
        await reports.daily_csv(days, team),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="spend-{days}d.csv"'},
    )


@router.get(
    "/teams/{team_id}/ledger", responses=_TEAM, summary="A team's spend ledger, newest first"
)
async def get_ledger(
    team_id: str,
    reports: ReportsDep,
    since: Annotated[str | None, Query(description="ISO-8601: entries at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor")] = None,
) -> LedgerPage:
    page = await reports.ledger(team_id, before=cursor, since=since, limit=limit)
    return LedgerPage.model_validate(page)


@router.get("/tasks", responses=_TEAM, summary="Recent tasks of every team (or one), newest first")
async def list_tasks(
    reports: ReportsDep,
    link: ResultLinkDep,
    team: Annotated[str | None, Query(description="One team only")] = None,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this state")] = None,
    since: Annotated[str | None, Query(description="ISO-8601: created at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = DEFAULT_LIST_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor")] = None,
    client_request_id: Annotated[
        str | None, Query(max_length=200, description="Only the tasks of this idempotency key")
    ] = None,
) -> TeamTaskList:
    found, next_cursor = await reports.tasks(
        team_id=team,
        status=status,
        since=since,
        limit=limit,
        cursor=cursor,
        client_request_id=client_request_id,
    )
    return TeamTaskList(
        data=[TeamTask(**record.public(link), team=owner.id) for owner, record in found],
        next_cursor=next_cursor,
    )


@router.get("/tasks/{task_id}", responses=_TEAM, summary="A task by its id, whichever team's")
async def get_task(task_id: str, reports: ReportsDep, link: ResultLinkDep) -> TeamTask:
    team, record = await reports.task(task_id)
    return TeamTask(**record.public(link), team=team.id)


@router.get("/upstream", summary="Rivya's balance and health, and the books' drift from it")
async def get_reconciliation(reconciliation: ReconciliationDep) -> Reconciliation:
    return Reconciliation.model_validate(await reconciliation.report())


@router.post(
    "/upstream/baseline",
    summary="Reconcile from now: take Rivya's balance and the books as the new baseline",
)
async def reset_baseline(reconciliation: ReconciliationDep) -> Reconciliation:
    await reconciliation.baselines.set()
    return Reconciliation.model_validate(await reconciliation.report())


@router.delete("/keys/{key_id}", responses=_TEAM, summary="Revoke a key by its id")
async def revoke_key(key_id: str, teams: TeamsDep) -> KeyOut:
    return KeyOut.of(await teams.revoke_key(key_id))


@router.put(
    "/keys/{key_id}/budget",
    responses=answers(NotFound, ValidationFailed),
    summary="Set a key's own credit budget (budget_credits null: none)",
)
async def set_key_budget(key_id: str, body: KeyBudgetFields, teams: TeamsDep) -> KeyOut:
    return KeyOut.of(await teams.set_key_budget(key_id, body))


@router.post(
    "/keys/revoke",
    responses=answers(NotFound, ValidationFailed),
    summary="Revoke a key by the key itself (as leaked), its id or its prefix",
)
async def revoke_leaked_key(body: KeyRevoke, teams: TeamsDep) -> KeyOut:
    return KeyOut.of(await teams.revoke_key(body.key))


@router.get(
    "/requests/{request_id}",
    responses=_TEAM,
    summary="What happened to a request, by its id (an error's requestId, X-Request-ID)",
)
async def get_request(request_id: str, requests: RequestsDep) -> RequestOut:
    return RequestOut.model_validate((await requests.find(request_id)).as_dict())
