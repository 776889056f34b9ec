"""The composition root: ``create_app`` wires settings, routers, middleware and the lifespan.

Tests build apps through it too, so two differently configured "replicas" can share a test.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from app.api import admin, compat, dashboard, files, images, ops, tokens
from app.api.answers import honest
from app.catalog import Catalog, load_catalog
from app.clock import Clock, SystemClock
from app.cors import CorsMiddleware
from app.handlers import install_error_handlers
from app.lifespan import make_lifespan
from app.metrics import Metrics
from app.middleware import GatewayMiddleware
from app.services.uploads import largest_upload
from app.settings import Settings

UPLOAD_PATHS = frozenset({"/v1/files", "/v1/images/edits", "/api/v1/files"})
MULTIPART_OVERHEAD = 64 * 1024


def _document_honestly(app: FastAPI) -> None:
    """The OpenAPI document says what the gateway really answers (``api/answers.py``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = honest(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    *,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
    alert_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    catalog: Catalog | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    catalog = catalog or load_catalog(settings.catalog_path)
    if settings.default_model and catalog.get(settings.default_model) is None:
        raise ValueError(f"DEFAULT_MODEL {settings.default_model!r} is not in the catalogue")
    metrics = Metrics()  # this app's own registry: two apps in one test do not share counters
    # /docs and /redoc with Swagger UI and ReDoc served by the gateway itself: no CDN.
    app = FastAPIOffline(
        title="Rivya Gateway",
        version="0.1.0",
        description="One internal endpoint in front of Rivya: team keys, budgets, limits, "
        'idempotency. Errors are always {"error": {code, message, requestId}}.',
        lifespan=make_lifespan(
            settings,
            catalog,
            clock or SystemClock(),
            metrics,
            upstream_transport=upstream_transport,
            alert_transport=alert_transport,
            configure_logs=configure_logs,
        ),
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(CorsMiddleware)  # inside GatewayMiddleware: it reads the request context
    app.add_middleware(
        GatewayMiddleware,
        max_body_bytes=settings.max_body_bytes,
        # An upload may be as large as the largest file any model takes, plus its form fields.
        upload_paths=UPLOAD_PATHS,
        max_upload_bytes=largest_upload(catalog) + MULTIPART_OVERHEAD,
        metrics=metrics,
    )
    _document_honestly(app)
    for router in (
        images.router,
        tokens.router,
        files.router,
        files.compat_router,
        compat.router,
        admin.router,
        ops.router,
        dashboard.router,
    ):
        app.include_router(router)
    return app
