"""Operational endpoints (CONTRACT §8): liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import ServicesDep

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="The process is alive (even while Redis is down)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to serve: Redis reachable, settings valid")
async def readyz(services: ServicesDep) -> JSONResponse:
    checks = await services.health.report()
    ready = checks["redis"] == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
