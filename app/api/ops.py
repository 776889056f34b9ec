"""Operational endpoints (CONTRACT §8): liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.auth.callers import check_scrape
from app.deps import DrainingDep, HealthDep, MetricsDep, MetricsFiguresDep, SettingsDep
from app.metrics import Snapshot
from app.schemas.errors import ErrorOut
from app.schemas.health import Liveness, Readiness

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="The process is alive (even while Redis is down)")
async def check_liveness() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus' text exposition format. With METRICS_TOKEN set, a scrape "
            "presents it (Authorization: Bearer); without, expose it to your Prometheus only.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        401: {"model": ErrorOut, "description": "METRICS_TOKEN is set: a scrape without it"},
    },
    summary="Prometheus metrics",
)
async def get_metrics(
    request: Request, registry: MetricsDep, figures: MetricsFiguresDep, settings: SettingsDep
) -> Response:
    check_scrape(request.headers.get("authorization"), settings.scrape_token)
    body = registry.render(Snapshot(await figures.gauges()))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "Not ready: Redis does not answer, or the process is draining "
            "before it stops (same body, status 503).",
        }
    },
    summary="Ready to serve: Redis reachable, settings valid",
)
async def check_readiness(health: HealthDep, draining: DrainingDep) -> JSONResponse:
    checks = await health.report()
    if draining.active:  # leaving (app/lifecycle.py): still serving, but send nothing new here
        return JSONResponse({"status": "draining", "checks": checks}, status_code=503)
    ready = checks["redis"] == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
