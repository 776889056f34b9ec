"""The admin API (CONTRACT §7): teams and their keys, behind ``GATEWAY_ADMIN_TOKEN``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.deps import AdminOnly, ServicesDep
from app.domain import Team
from app.schemas import DataList, KeyCreate, KeyCreated, KeyOut, TeamCreate, TeamPatch

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminOnly])


@router.post("/teams", status_code=201, summary="Create a team")
async def create_team(body: TeamCreate, services: ServicesDep) -> Team:
    return await services.teams.create(body.model_dump())


@router.get("/teams", summary="List teams")
async def list_teams(services: ServicesDep) -> DataList:
    return DataList(data=await services.teams.list_teams())


@router.get("/teams/{team_id}", summary="Read a team")
async def get_team(team_id: str, services: ServicesDep) -> Team:
    return await services.teams.get(team_id)


@router.patch("/teams/{team_id}", summary="Change some of a team's settings")
async def update_team(team_id: str, body: TeamPatch, services: ServicesDep) -> Team:
    return await services.teams.update(team_id, body.model_dump(exclude_unset=True))


@router.delete("/teams/{team_id}", status_code=204, summary="Delete a team, revoking its keys")
async def delete_team(team_id: str, services: ServicesDep) -> Response:
    await services.teams.delete(team_id)
    return Response(status_code=204)


@router.post("/teams/{team_id}/keys", status_code=201, summary="Issue a key (shown once)")
async def create_key(
    team_id: str, services: ServicesDep, body: KeyCreate | None = None
) -> KeyCreated:
    issued = await services.teams.issue_key(team_id, body.name if body else None)
    return KeyCreated(**KeyOut.of(issued.record).model_dump(), key=issued.key)


@router.get("/teams/{team_id}/keys", summary="List a team's keys (no secrets)")
async def list_keys(team_id: str, services: ServicesDep) -> DataList:
    return DataList(data=[KeyOut.of(r) for r in await services.teams.list_keys(team_id)])


@router.get("/spend", summary="Spend per team against budget, tasks by status, and totals")
async def spend(
    services: ServicesDep,
    period: Annotated[
        str, Query(description="current (each team's own period), YYYY-MM-DD or YYYY-MM")
    ] = "current",
) -> dict[str, Any]:
    return await services.usage.report(period)


@router.delete("/keys/{key_id}", summary="Revoke a key")
async def revoke_key(key_id: str, services: ServicesDep) -> KeyOut:
    return KeyOut.of(await services.teams.revoke_key(key_id))
