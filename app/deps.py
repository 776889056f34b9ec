"""Dependency aliases for routes, declared once: ``ServicesDep``, ``TeamCaller``, ``AdminOnly``,
``IdempotencyKey``, ``WaitSeconds``. All are async: FastAPI runs sync dependencies in a thread
pool, a hop per request for nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.callers import Caller, check_admin
from app.container import Services

# Declared so OpenAPI shows the bearer scheme; the header itself is read and judged by auth.
_bearer = HTTPBearer(auto_error=False)
BearerDoc = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


async def _team_caller(request: Request, services: ServicesDep, _: BearerDoc) -> Caller:
    return await services.callers.team_caller(request.headers.get("authorization"))


TeamCaller = Annotated[Caller, Depends(_team_caller)]


async def _team_reader(caller: TeamCaller, services: ServicesDep) -> Caller:
    services.reads.check(caller.team.space)
    return caller


# A team caller on a read route: counted against the team's read rate (services/limits.py).
TeamReader = Annotated[Caller, Depends(_team_reader)]


async def _optional_team_caller(request: Request, services: ServicesDep) -> Caller | None:
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    return await services.callers.team_caller(authorization)


OptionalTeamCaller = Annotated[Caller | None, Depends(_optional_team_caller)]


async def _admin(request: Request, services: ServicesDep, _: BearerDoc) -> None:
    check_admin(request.headers.get("authorization"), services.settings.admin_token)


AdminOnly = Depends(_admin)

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Same as client_request_id.")
]

WaitSeconds = Annotated[
    float,
    Query(ge=0, le=60, description="Hold the answer until the task ends or this many seconds."),
]
