"""Control endpoints (``/_sim/*``) for tests and demos: faults, reset, the log, the balance.

Not part of Rivya's API: never faulted, never authenticated, never logged.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.catalog import FieldError
from app.simulator.deps import SimStateDep
from app.simulator.errors import SimError

router = APIRouter(prefix="/_sim", include_in_schema=False)


@router.get("/faults")
async def get_faults(state: SimStateDep) -> JSONResponse:
    return JSONResponse(state.faults.model_dump(mode="json"))


@router.post("/faults")
async def set_faults(request: Request, state: SimStateDep) -> JSONResponse:
    """Partial update: only the switches named in the body change."""
    changes = await _object_body(request)
    try:
        faults = state.set_faults(**changes)
    except ValidationError as exc:
        raise _validation(exc) from exc
    return JSONResponse(faults.model_dump(mode="json"))


@router.post("/reset")
async def reset(request: Request, state: SimStateDep) -> JSONResponse:
    """Faults back to their starting values; ``{"state": true}`` also empties everything."""
    body = await _object_body(request, required=False)
    clear_state = body.get("state", False)
    if not isinstance(clear_state, bool):
        raise SimError.validation([FieldError("state", "must be a boolean")])
    state.reset(clear_state=clear_state)
    return JSONResponse({"faults": state.faults.model_dump(mode="json"), "state": clear_state})


@router.get("/requests")
async def get_requests(state: SimStateDep) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [r.as_dict() for r in state.requests]})


@router.delete("/requests")
async def clear_requests(state: SimStateDep) -> JSONResponse:
    cleared = len(state.requests)
    state.clear_requests()
    return JSONResponse({"cleared": cleared})


@router.post("/balance")
async def set_balance(request: Request, state: SimStateDep) -> JSONResponse:
    credits = (await _object_body(request)).get("credits")
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
        raise SimError.validation([FieldError("credits", "must be a whole number >= 0")])
    return JSONResponse({"current_credits": state.set_balance(credits)})


async def _object_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip() and not required:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SimError.validation([FieldError("body", "must be a JSON object")])
    return body


def _validation(exc: ValidationError) -> SimError:
    return SimError.validation(
        [FieldError(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
    )
