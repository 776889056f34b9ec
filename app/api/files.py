"""Uploads (CONTRACT §4 ``/v1/files``, §5 ``/api/v1/files``): checked, forwarded, owned."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.documented_errors import KEY_ONLY, READ, TEAM, UPLOAD, answers
from app.api.uploads import multipart_doc, read_upload
from app.auth.callers import Caller
from app.catalog import FieldError
from app.deps import FilesDep, KeyReader, TeamCaller
from app.domain.files import FileRecord
from app.errors import NotFound, ValidationFailed
from app.rivya_schemas import RivyaFile
from app.schemas.files import FileOut
from app.services.files import FileService

router = APIRouter(tags=["team API"])
compat_router = APIRouter(prefix="/api/v1", tags=["Rivya-compatible"])

_UPLOAD_DOC = multipart_doc("file", {}, required=["file"])
# Rivya's multipart, as the drop-in surface takes it.
_RIVYA_UPLOAD_DOC = multipart_doc(
    "file",
    {
        "kind": {"type": "string", "enum": ["image", "video", "audio"]},
        "model": {"type": "string", "description": "Apply this model's file rules."},
    },
    required=["file", "kind"],
)


@router.post(
    "/v1/files",
    status_code=201,
    response_model=FileOut,
    responses=answers(*TEAM, *UPLOAD),
    openapi_extra=_UPLOAD_DOC,
    summary="Upload a reference image",
)
async def upload_file(request: Request, caller: TeamCaller, files: FilesDep) -> JSONResponse:
    """Image files only: JPEG, PNG or WebP judged by their bytes, at most the catalogue's size."""
    record = await _upload(request, caller, files, rivya_form=False)
    return JSONResponse(FileOut.model_validate(record.public()).model_dump(), status_code=201)


@router.get(
    "/v1/files/{file_id}",
    responses=answers(*KEY_ONLY, *READ, NotFound),
    summary="An uploaded file",
)
async def get_file(file_id: str, caller: KeyReader, files: FilesDep) -> FileOut:
    return FileOut.model_validate((await files.get(caller.team, file_id)).public())


@compat_router.post(
    "/files",
    status_code=201,
    response_model=RivyaFile,
    responses=answers(*TEAM, *UPLOAD),
    openapi_extra=_RIVYA_UPLOAD_DOC,
    summary="Upload a file",
)
async def rivya_upload_file(request: Request, caller: TeamCaller, files: FilesDep) -> JSONResponse:
    """Rivya's multipart: ``file``, ``kind`` (image, video, audio), optional ``model``."""
    record = await _upload(request, caller, files, rivya_form=True)
    return JSONResponse(record.upstream, status_code=201)


@compat_router.get(
    "/files/{file_id}",
    response_model=RivyaFile,
    responses=answers(*KEY_ONLY, *READ, NotFound),
    summary="File metadata (Rivya's shape)",
)
async def rivya_get_file(file_id: str, caller: KeyReader, files: FilesDep) -> JSONResponse:
    return JSONResponse((await files.get(caller.team, file_id)).upstream)


async def _upload(
    request: Request, caller: Caller, files: FileService, *, rivya_form: bool
) -> FileRecord:
    """One upload, its body read only once there is room for it. The gateway's form is an
    image; Rivya's names its ``kind`` and, optionally, the ``model`` whose rules apply."""
    async with files.receiving(caller.team):
        upload = await read_upload(request, file_field="file")
        kind, model = "image", None
        if rivya_form:
            kind, model = upload.fields.get("kind", ""), upload.fields.get("model") or None
            if not kind:
                raise ValidationFailed(details=[FieldError("kind", "is required")])
        return await files.upload(
            caller.team,
            upload.data,
            name=upload.filename,
            kind=kind,
            model_id=model,
            subject=caller.subject,
        )
