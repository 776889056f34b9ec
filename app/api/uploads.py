"""Reading a multipart upload: one file part and a few small fields.

The body itself is capped while it streams in (``GatewayMiddleware``), so a huge upload is cut
off at the limit and never buffered; here the parts are read and shaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from app.catalog import FieldError
from app.errors import ValidationFailed

MAX_FIELD_BYTES = 64 * 1024


def multipart_doc(file_field: str, fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """OpenAPI for a multipart body (the route reads it itself, under the upload cap)."""
    properties = {file_field: {"type": "string", "format": "binary"}, **fields}
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    fields: dict[str, str]


async def read_upload(request: Request, *, file_field: str) -> Upload:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ValidationFailed(
            details=[FieldError("body", "must be multipart/form-data with a file part")]
        )
    try:
        form = await request.form(max_files=1, max_fields=32, max_part_size=MAX_FIELD_BYTES)
    except MultiPartException as exc:
        raise ValidationFailed(details=[FieldError("body", exc.message)]) from None
    try:
        part = form.get(file_field)
        if not isinstance(part, UploadFile):
            raise ValidationFailed(details=[FieldError(file_field, "a file part is required")])
        data = await part.read()
        fields: dict[str, str] = {}
        for name, value in form.multi_items():
            if not isinstance(value, str):
                continue
            if name in fields:  # which of two prompts did the caller mean? Say, don't guess.
                raise ValidationFailed(details=[FieldError(name, "is given more than once")])
            fields[name] = value
        return Upload(data=data, filename=part.filename or "", fields=fields)
    finally:
        await form.close()
