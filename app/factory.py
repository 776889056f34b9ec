"""The composition root: ``create_app`` wires settings, routers, middleware and the lifespan.

Tests build apps through it too, so two differently configured "replicas" can share a test.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp

from app.api import admin, compat, dashboard, files, images, ops, tokens
from app.api.answers import honest
from app.api.compat import generation_create
from app.api.fastpath import FastCreates, FastRoute, FastRoutes
from app.api.images import image_create
from app.catalog import Catalog, load_catalog
from app.clock import Clock, SystemClock
from app.cors import CorsMiddleware
from app.handlers import install_error_handlers
from app.lifespan import make_lifespan
from app.metrics import Metrics
from app.middleware import GatewayMiddleware, HeldBodies
from app.services.limits import RefusedRequests
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


def _serve_creates_in_front(app: FastAPI, edge: Callable[[ASGIApp], ASGIApp]) -> None:
    """The two create routes are served in front of FastAPI's layers (api/fastpath.py), through
    the gateway's own middleware (``edge``); everything else goes through FastAPI as before."""
    fast_routes = _fast_routes()
    build_rest = app.build_middleware_stack

    def build() -> ASGIApp:  # Starlette calls it once, on the first request
        fast = edge(FastCreates(fast_routes))
        return FastRoutes(fast, build_rest(), frozenset(fast_routes))

    app.build_middleware_stack = build  # type: ignore[method-assign]


def _fast_routes() -> dict[str, FastRoute]:
    handlers = {
        "/v1/images": (image_create, True),
        "/api/v1/generations": (generation_create, False),
    }
    declared = {
        route.path: route
        for route in (*images.router.routes, *compat.router.routes)
        if isinstance(route, APIRoute) and route.methods == {"POST"} and route.path in handlers
    }
    return {
        path: FastRoute(declared[path], handle, takes_wait)
        for path, (handle, takes_wait) in handlers.items()
    }


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
    clock = clock or SystemClock()
    # Counted by the middleware (which sees every answer), checked by auth (which knows the
    # caller first): one per app.
    refusals = RefusedRequests(
        clock,
        per_minute=settings.refused_requests_per_minute,
        burst=settings.refused_request_burst,
    )
    # /docs and /redoc with Swagger UI and ReDoc served by the gateway itself: no CDN.
    app = FastAPIOffline(
        title="Rivya Gateway",
        version="0.1.0",
        description="One internal endpoint in front of Rivya: team keys, budgets, limits, "
        'idempotency. Errors are always {"error": {code, message, requestId}}.',
        # No redirect to "the path without its slash": Starlette builds its Location from the
        # caller's Host header, before auth. A path with a trailing slash is simply not a route.
        redirect_slashes=False,
        lifespan=make_lifespan(
            settings,
            catalog,
            clock,
            metrics,
            refusals=refusals,
            upstream_transport=upstream_transport,
            alert_transport=alert_transport,
            configure_logs=configure_logs,
        ),
    )
    app.state.settings = settings
    install_error_handlers(app)
    # An upload may be as large as the largest file any model takes, plus its form fields.
    max_upload_bytes = largest_upload(catalog) + MULTIPART_OVERHEAD
    gateway_middleware = partial(
        GatewayMiddleware,
        max_body_bytes=settings.max_body_bytes,
        upload_paths=UPLOAD_PATHS,
        max_upload_bytes=max_upload_bytes,
        metrics=metrics,
        refusals=refusals,
        # One count for both instances (FastAPI's stack and the fast path's).
        bodies=HeldBodies(max(settings.request_bodies_mb * 1_048_576, max_upload_bytes)),
    )

    def edge(inner: ASGIApp) -> ASGIApp:
        # CORS inside GatewayMiddleware: it reads the request context the latter opens.
        return gateway_middleware(CorsMiddleware(inner))

    app.add_middleware(CorsMiddleware)
    app.add_middleware(gateway_middleware)
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
    _serve_creates_in_front(app, edge)
    return app
