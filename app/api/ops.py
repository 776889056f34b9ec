"""Operational endpoints (CONTRACT §8): liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import ServicesDep
from app.store.redis import STORE_FAILURES

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="The process is alive (even while Redis is down)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to serve: Redis reachable, settings valid")
async def readyz(services: ServicesDep) -> JSONResponse:
    try:
        await services.redis.ping()
    except STORE_FAILURES:
        return JSONResponse(
            {"status": "unavailable", "checks": {"redis": "unreachable"}}, status_code=503
        )
    return JSONResponse({"status": "ready", "checks": {"redis": "ok"}})
