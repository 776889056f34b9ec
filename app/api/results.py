"""``GET /v1/results/{task}/{index}``: a result file, by a link an answer gave (CONTRACT
additions). No credential: the link's signature is the credential, so a browser's ``<img>``
loads it; it names one file of one team's task, until its expiry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from app.api.documented_errors import answers
from app.deps import ResultLinksDep, ResultsDep
from app.errors import NotFound, ResultLinkExpired, ResultLinkInvalid, StoreUnavailable

router = APIRouter(tags=["team API"])

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@router.get(
    "/v1/results/{task_id}/{index}",
    response_class=Response,
    responses={
        200: {
            "description": "The file (JPEG, PNG or WebP), from the gateway's copy, or Rivya's "
            "streamed while the copy is made.",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _EXTENSIONS},
        },
        304: {"description": "Not modified (If-None-Match named the copy's ETag)."},
        **answers(ResultLinkInvalid, ResultLinkExpired, NotFound, StoreUnavailable),
    },
    summary="A result file, by the signed link a task's answer gave",
)
# HEAD too (a browser's or a cache's check of a link): the same answer without its body. Out of
# the document, which lists each route once.
@router.head("/v1/results/{task_id}/{index}", include_in_schema=False)
async def get_result(
    request: Request,
    results: ResultsDep,
    links: ResultLinksDep,
    task_id: Annotated[str, Path(max_length=128)],
    index: Annotated[int, Path(ge=0, le=999)],
    team: Annotated[str, Query(max_length=200)],
    expires: Annotated[int, Query(ge=0, le=2**40)],
    sig: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    left = links.check(team, task_id, index, expires, sig)
    served = await results.serve(team, task_id, index)
    extension = _EXTENSIONS.get(served.content_type, "bin")
    headers = {
        # Private: the link is the reader's; no longer than the link itself lives.
        "Cache-Control": f"private, max-age={left}",
        "Content-Disposition": f'inline; filename="{task_id}-{index}.{extension}"',
        "X-Content-Type-Options": "nosniff",
    }
    if served.etag is not None:
        headers["ETag"] = f'"{served.etag}"'
        if if_none_match and served.etag in if_none_match:
            await served.chunks.aclose()
            return Response(status_code=304, headers=headers)
    if served.size is not None:
        headers["Content-Length"] = str(served.size)
    if request.method == "HEAD":
        await served.chunks.aclose()
        return Response(media_type=served.content_type, headers=headers)
    return StreamingResponse(served.chunks, media_type=served.content_type, headers=headers)
