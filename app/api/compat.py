"""The Rivya-compatible surface (CONTRACT §5): Rivya's paths and JSON, a team key for auth."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from app.api.create_routes import CreateCall, documented_only
from app.api.documented_errors import (
    CREATE,
    KEY_ONLY,
    READ,
    TEAM,
    UPSTREAM,
    answers,
    documented_json_body,
)
from app.api.responses import created_headers, json_body, rivya_task_response
from app.deps import (
    CatalogDep,
    KeyReader,
    OptionalTeamCaller,
    ReadsDep,
    ResultLinkDep,
    RivyaIdempotencyKey,
    TasksDep,
    TeamCaller,
    TeamReader,
    UsageDep,
)
from app.errors import NotFound, RateLimited
from app.rivya_schemas import RivyaCredits, RivyaModelList, RivyaTask
from app.schemas.compat import RivyaCreate
from app.services.generations import parse_rivya_create

router = APIRouter(prefix="/api/v1", tags=["Rivya-compatible"])


@router.post(
    "/generations",
    status_code=201,
    response_model=RivyaTask,
    responses={
        201: {"description": "Created: a new task."},
        200: {"model": RivyaTask, "description": "A repeat of a create: the task it made."},
        **answers(*TEAM, *CREATE),
    },
    openapi_extra=documented_json_body(RivyaCreate),
    summary="Create a generation (Rivya's shape)",
)
async def rivya_create_generation(
    caller: TeamCaller,
    idempotency_key: RivyaIdempotencyKey = None,
) -> Response:
    # Documents the route (its parameters, answers and security); CreateRoutes serves it.
    raise documented_only("/api/v1/generations")


async def generation_create(call: CreateCall) -> Response:
    """``POST /api/v1/generations``, whichever way it was routed."""
    services, caller = call.services, call.caller
    generation = parse_rivya_create(
        json_body(call.body), services.catalog, idempotency_key=call.idempotency_key
    )
    created = await services.tasks.create(caller, generation)
    if created.replayed:
        services.reads.check(caller.team.tenant)  # a replay is a read
    # A fresh create is 201 (Created); a replay answers as a read does, 200.
    return rivya_task_response(
        created.record,
        call.link,
        status=200 if created.replayed else 201,
        headers=created_headers(created),
    )


@router.get(
    "/generations/{task_id}",
    response_model=RivyaTask,
    responses=answers(*TEAM, *READ, NotFound),
    summary="Read a generation (Rivya's shape)",
)
async def rivya_get_generation(
    task_id: str, caller: TeamReader, tasks: TasksDep, link: ResultLinkDep
) -> JSONResponse:
    return rivya_task_response(await tasks.reads.get(caller, task_id), link)


@router.get(
    "/credits",
    responses=answers(*KEY_ONLY, RateLimited, *UPSTREAM),
    summary="The team's remaining budget, as Rivya's credits",
)
async def rivya_get_credits(caller: KeyReader, usage: UsageDep) -> RivyaCredits:
    return RivyaCredits(current_credits=await usage.credits(caller.team, caller.key_id))


@router.get(
    "/models", responses=answers(*KEY_ONLY, RateLimited), summary="Models, as Rivya lists them"
)
async def rivya_list_models(
    caller: OptionalTeamCaller, catalog: CatalogDep, reads: ReadsDep
) -> RivyaModelList:
    """Public like Rivya's; with a team key, only the models that team may use."""
    if caller is not None:
        reads.check(caller.team.tenant)
    models = [
        m
        for m in catalog.models
        if m.api_status == "available" and (caller is None or caller.team.may_use(m.id))
    ]
    return RivyaModelList.model_validate(
        {"object": "list", "data": [m.rivya_entry() for m in models]}
    )


@router.get("/openapi.json", include_in_schema=False)
async def rivya_openapi_document(request: Request) -> JSONResponse:
    """Public, as Rivya's is: the gateway's OpenAPI document, its drop-in surface only."""
    document: dict[str, Any] = request.app.openapi()
    paths = {path: ops for path, ops in document["paths"].items() if path.startswith("/api/v1/")}
    return JSONResponse({**document, "paths": paths})
