"""Unauthenticated content URLs: rendered results and uploaded files (Rivya's CDN stand-in)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.simulator.deps import SimStateDep
from app.simulator.errors import SimError
from app.simulator.images import RenderSpec, render

router = APIRouter(include_in_schema=False)

_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}
_EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


@router.get("/results/{filename}")
async def get_result(filename: str, state: SimStateDep) -> Response:
    task_id, _, extension = filename.rpartition(".")
    task = state.get_task(task_id)
    now = state.clock.now()
    if task is None or extension != task.result_extension or task.status_at(now) != "succeeded":
        raise SimError("not_found", 404, f"No result at /results/{filename}.")
    lifetime = state.faults.result_url_seconds
    if lifetime is not None and now >= task.finished_at + lifetime:
        # What an expired signed URL gets from an S3-backed CDN: Rivya has dropped the file.
        return Response(_EXPIRED, status_code=403, media_type="application/xml")
    if task.image is None:
        reference = state.get_file(task.reference_file_id) if task.reference_file_id else None
        spec = RenderSpec(
            prompt=task.prompt,
            aspect_ratio=task.aspect_ratio,
            model_id=task.model_id,
            task_id=task.id,
            output_format=task.output_format,
            long_edge=state.settings.image_size,
            reference=reference.data if reference is not None else None,
        )
        # Rendering is CPU work; keep the event loop (and other requests) moving meanwhile.
        task.image = await run_in_threadpool(render, spec)
    return Response(task.image, media_type=_CONTENT_TYPES[extension])


@router.get("/files/{file_id}/content")
async def get_file_content(file_id: str, state: SimStateDep) -> Response:
    file = state.get_file(file_id)
    if file is None:
        raise SimError("not_found", 404, f"No file {file_id!r}.")
    return Response(file.data, media_type=file.mime_type)
