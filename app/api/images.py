"""The team API (CONTRACT §4): create and read image tasks, list models."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from app.api.create_routes import CreateCall, documented_only
from app.api.documented_errors import (
    CREATE,
    KEY_ONLY,
    READ,
    TEAM,
    UPLOAD,
    answers,
    documented_json_body,
)
from app.api.responses import created_headers, json_body, task_response
from app.api.uploads import multipart_doc, read_upload
from app.auth.callers import Caller
from app.catalog import FieldError, ModelSpec
from app.deps import (
    CatalogDep,
    IdempotencyKey,
    KeyReader,
    ResultLinkDep,
    ServicesDep,
    TasksDep,
    TeamCaller,
    TeamReader,
    UsageDep,
    WaitSeconds,
    result_linker,
)
from app.domain.tasks import ResultLink
from app.errors import NotFound, RateLimited, ValidationFailed
from app.rivya_schemas import TaskStatus
from app.schemas.catalog import ModelList, ModelOut
from app.schemas.tasks import ImageCreate, TaskList, TaskOut
from app.schemas.usage import TokenUsage, Usage
from app.services.edit_forms import edit_form_body
from app.services.generations import GenerationRequest, parse_image_create
from app.services.listings import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from app.wiring.services import Services

router = APIRouter(prefix="/v1", tags=["team API"])

# The edit's form fields: those of POST /v1/images, typed as there (a form sends them as text).
EDIT_FORM_FIELDS = {
    name: next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)
    for name, schema in ImageCreate.model_json_schema()["properties"].items()
    if name != "reference_file_id"
}

_TASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": TaskOut, "description": "The task has ended."},
    202: {"model": TaskOut, "description": "The task is queued or processing."},
}


@router.post(
    "/images",
    status_code=202,
    responses={**_TASK_RESPONSES, **answers(*TEAM, *CREATE)},
    openapi_extra=documented_json_body(ImageCreate),
    summary="Create an image task",
)
async def create_image(
    caller: TeamCaller,
    idempotency_key: IdempotencyKey = None,
    wait: WaitSeconds = 0,
) -> Response:
    # Documents the route (its parameters, answers and security); CreateRoutes serves it.
    raise documented_only("/v1/images")


async def image_create(call: CreateCall) -> Response:
    """``POST /v1/images``, whichever way it was routed."""
    services = call.services
    generation = parse_image_create(
        json_body(call.body),
        services.catalog,
        services.default_model,
        idempotency_key=call.idempotency_key,
    )
    return await _create(call.caller, services, generation, call.wait, call.link)


@router.post(
    "/images/edits",
    status_code=202,
    responses={**_TASK_RESPONSES, **answers(*TEAM, *CREATE, *UPLOAD)},
    openapi_extra=multipart_doc("image", EDIT_FORM_FIELDS, required=["image", "prompt"]),
    summary="Edit an image: upload the reference and create the task in one call",
)
async def edit_image(
    request: Request,
    caller: TeamCaller,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitSeconds = 0,
) -> JSONResponse:
    upload = await read_upload(request, file_field="image")
    if "reference_file_id" in upload.fields:
        raise ValidationFailed(
            details=[FieldError("reference_file_id", "an edit's reference is its image part")]
        )
    body = edit_form_body(upload.fields, services.catalog, services.default_model)
    # Check the create's fields, and that the team may use its model, before uploading
    # anything; the file reference is added after.
    checked = parse_image_create(
        body, services.catalog, services.default_model, idempotency_key=idempotency_key
    )
    services.tasks.check_model(caller, checked)
    record = await services.files.upload(
        caller.team,
        upload.data,
        name=upload.filename,
        kind="image",
        model_id=checked.model.id,
        subject=caller.subject,
    )
    generation = parse_image_create(
        {**body, "reference_file_id": record.id},
        services.catalog,
        services.default_model,
        idempotency_key=idempotency_key,
    )
    return await _create(caller, services, generation, wait, result_linker(services, request.scope))


async def _create(
    caller: Caller,
    services: Services,
    generation: GenerationRequest,
    wait: float,
    link: ResultLink,
) -> JSONResponse:
    created = await services.tasks.create(caller, generation)
    if created.replayed:
        services.reads.check(caller.team.tenant)  # a replay (and its wait) is a read
    record = created.record
    if wait > 0:
        record = await services.tasks.follow(created, wait=wait)
    return task_response(record, link, created_headers(created))


@router.get(
    "/images",
    responses={
        200: {"model": TaskList, "description": "A page of tasks, newest first."},
        **answers(*TEAM, *READ),
    },
    summary="List this team's image tasks, newest first",
)
async def list_images(
    caller: TeamReader,
    tasks: TasksDep,
    link: ResultLinkDep,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this state.")] = None,
    client_request_id: Annotated[
        str | None, Query(max_length=128, description="Only the task of this client_request_id.")
    ] = None,
    since: Annotated[
        str | None,
        Query(description="ISO-8601 (UTC unless an offset is given): tasks created at or after."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = DEFAULT_LIST_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="A previous page's next_cursor.")
    ] = None,
) -> JSONResponse:
    listing = await tasks.reads.list_tasks(
        caller,
        status=status,
        client_request_id=client_request_id,
        since=since,
        limit=limit,
        cursor=cursor,
    )
    # Each item is exactly what GET /v1/images/{id} answers for that task.
    body = {
        "object": "list",
        "data": [record.public(link) for record in listing.tasks],
        "next_cursor": listing.next_cursor,
    }
    return JSONResponse(body)


@router.get(
    "/images/{task_id}",
    responses={**_TASK_RESPONSES, **answers(*TEAM, *READ, NotFound)},
    summary="Read an image task",
)
async def get_image(
    task_id: str, caller: TeamReader, tasks: TasksDep, link: ResultLinkDep, wait: WaitSeconds = 0
) -> JSONResponse:
    return task_response(await tasks.reads.get(caller, task_id, wait=wait), link)


@router.get(
    "/usage",
    responses=answers(*TEAM, RateLimited),
    summary="This team's spend, budget and limits in the current period "
    "(a browser token: its own spend, cap and limits)",
)
async def get_usage(caller: TeamReader, spend: UsageDep) -> Usage | TokenUsage:
    if caller.token is not None:
        return TokenUsage.model_validate(await spend.token_usage(caller.team, caller.token))
    return Usage.model_validate(await spend.usage(caller.team, caller.key_id))


@router.get(
    "/models", responses=answers(*KEY_ONLY, RateLimited), summary="Models this team may use"
)
async def list_models(caller: KeyReader, catalog: CatalogDep) -> ModelList:
    models = [m for m in catalog.models if caller.team.may_use(m.id)]
    return ModelList(data=[_model_out(m) for m in models if m.api_status == "available"])


def _model_out(model: ModelSpec) -> ModelOut:
    return ModelOut.model_validate(
        {
            "id": model.id,
            "display_name": model.display_name,
            "credits_per_task": model.base_credits,
            "billing_type": model.billing_type,
            "prompt_required": model.prompt_required,
            "max_prompt_length": model.max_prompt_length,
            "params": [
                {
                    "name": p.alias,
                    "type": "boolean" if p.as_boolean else p.type,
                    "default": (p.default == "true") if p.as_boolean else p.default,
                    "options": None if p.as_boolean else list(p.options) or None,
                    "minimum": p.minimum,
                    "maximum": p.maximum,
                    "description": p.description,
                }
                for p in model.params
            ],
            "files": {k: r.model_dump(mode="json") for k, r in model.file_kinds.items()},
        }
    )
