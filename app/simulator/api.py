"""Rivya's public API v1 routes (``/api/v1/*``), as ``rivya-api.md`` describes them."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.catalog import FieldError
from app.simulator import openapi_docs
from app.simulator.deps import SimStateDep, base_url, request_record, require_api_key
from app.simulator.errors import SimError
from app.simulator.state import new_id
from app.simulator.uploads import SimFile, check_content, check_fields
from app.simulator.validation import validate_generation

public_router = APIRouter(prefix="/api/v1", tags=["public"])
router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_key)], tags=["account"])


@public_router.get("/models", summary="List models", responses=openapi_docs.MODELS)
async def list_models(state: SimStateDep) -> JSONResponse:
    return JSONResponse(
        {"object": "list", "data": [model.rivya_entry() for model in state.catalog.models]}
    )


@router.post(
    "/generations",
    status_code=201,
    summary="Create a generation task",
    openapi_extra=openapi_docs.CREATE_GENERATION,
    responses=openapi_docs.TASK_RESPONSES,
)
async def create_generation(request: Request, state: SimStateDep) -> JSONResponse:
    body = _json_body(await request.body())
    key = request.headers.get("idempotency-key", "").strip()
    fingerprint = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    if key:
        replayed = state.idempotent_task(key, fingerprint)
        if replayed is not None:
            return JSONResponse(
                state.task_json(replayed), status_code=200, headers={"Idempotent-Replayed": "true"}
            )
    generation, errors = validate_generation(body, state.catalog)
    if generation is None:
        raise SimError.validation(errors)
    task = state.create_task(
        model=generation.model,
        prompt=generation.prompt,
        params=generation.params,
        base_url=base_url(request, state),
        client_request_id=generation.client_request_id,
    )
    if key:
        state.remember_idempotency(key, fingerprint, task.id)
    # Rivya's exact 2xx is undocumented; 201 keeps gateways honest about accepting any 2xx.
    return JSONResponse(state.task_json(task), status_code=201)


@router.get(
    "/generations/{task_id}", summary="Get a generation task", responses=openapi_docs.TASK_RESPONSES
)
async def get_generation(task_id: str, state: SimStateDep) -> JSONResponse:
    task = state.get_task(task_id)
    if task is None:
        raise SimError("not_found", 404, f"No generation task {task_id!r}.")
    return JSONResponse(state.task_json(task))


@router.post(
    "/files",
    status_code=201,
    summary="Upload a reference file",
    openapi_extra=openapi_docs.UPLOAD_FILE,
    responses=openapi_docs.FILE_RESPONSES,
)
async def upload_file(request: Request, state: SimStateDep) -> JSONResponse:
    try:
        async with request.form() as form:
            upload = form.get("file")
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            data = await upload.read() if isinstance(upload, UploadFile) else b""
            filename = upload.filename if isinstance(upload, UploadFile) else None
            declared = upload.content_type if isinstance(upload, UploadFile) else None
    except StarletteHTTPException as exc:  # Starlette's 400 for a broken multipart body
        raise SimError.validation([FieldError("body", str(exc.detail))]) from exc
    record = request_record(request)
    if record is not None:
        described = {"filename": filename, "content_type": declared, "size": len(data)}
        record.form = {**fields, "file": described} if isinstance(upload, UploadFile) else fields

    target, errors = check_fields(fields, state.catalog, has_file=isinstance(upload, UploadFile))
    if target is None:
        raise SimError.validation(errors)
    mime_type, content_errors = check_content(data, target.kind, target.rule)
    if mime_type is None:
        raise SimError.validation(content_errors)

    file = state.add_file(
        SimFile(
            id=new_id("file_"),
            kind=target.kind,
            mime_type=mime_type,
            name=filename or "upload",
            created_at=state.clock.now(),
            base_url=base_url(request, state),
            data=data,
            duration_token=secrets.token_urlsafe(24) if target.kind != "image" else None,
            model_id=target.model.id if target.model is not None else None,
            client_request_id=target.client_request_id,
        )
    )
    return JSONResponse(file.wire(), status_code=201)


@router.get("/files/{file_id}", summary="Get file metadata", responses=openapi_docs.FILE_RESPONSES)
async def get_file(file_id: str, state: SimStateDep) -> JSONResponse:
    file = state.get_file(file_id)
    if file is None:
        raise SimError("not_found", 404, f"No file {file_id!r}.")
    return JSONResponse(file.wire())


@router.get("/credits", summary="Current credits", responses=openapi_docs.CREDITS)
async def get_credits(state: SimStateDep) -> JSONResponse:
    return JSONResponse({"current_credits": state.current_credits()})


def _json_body(raw: bytes) -> Any:
    if not raw:
        raise SimError.validation([FieldError("body", "must be a JSON object")])
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SimError.validation([FieldError("body", "is not valid JSON")]) from exc
