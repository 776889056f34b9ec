"""The composition root: ``create_app`` makes the app, its middleware and routes, and the
lifespan that opens what the process holds and builds the services (``app/wiring/``).

Tests build apps through it too, so two differently configured "replicas" can share a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import (
    admin,
    compat,
    dashboard,
    files,
    images,
    ops,
    results,
    rivya_hints,
    tokens,
    webhooks,
)
from app.api.compat import generation_create
from app.api.create_routes import CreateRoute, CreateRoutes
from app.api.docs import serve_docs
from app.api.documented_errors import honest, with_bodies
from app.api.images import image_create
from app.catalog import Catalog, load_catalog
from app.clock import Clock, SystemClock
from app.cors import CorsMiddleware
from app.handlers import install_error_handlers
from app.lifecycle import Draining
from app.lifespan import Ingredients, make_lifespan
from app.metrics import Metrics
from app.middleware import GatewayMiddleware, HeldBodies
from app.schemas.compat import RivyaCreate
from app.schemas.tasks import ImageCreate
from app.services.answered import Tallies
from app.services.uploads import largest_upload
from app.settings import Settings
from app.wiring.access import refused_requests
from app.wiring.resources import Seams

UPLOAD_PATHS = frozenset({"/v1/files", "/v1/images/edits", "/api/v1/files"})
MULTIPART_OVERHEAD = 64 * 1024
ROUTERS = (
    images.router,
    tokens.router,
    tokens.admin_router,
    files.router,
    files.compat_router,
    results.router,
    compat.router,
    webhooks.router,
    admin.router,
    webhooks.admin_router,
    ops.router,
    rivya_hints.router,
    dashboard.router,
)


class GatewayApp(FastAPI):
    """FastAPI whose OpenAPI document says what the gateway really answers
    (``api/documented_errors.py``), with the create routes served in front of it, through the
    gateway's own middleware only (``api/create_routes.py``)."""

    creates: CreateRoutes
    creates_stack: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.creates.take(scope):
            scope["app"] = self  # as Starlette sets it: the routes read the services from it
            await self.creates_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = get_openapi(
                title=self.title,
                version=self.version,
                description=self.description,
                routes=self.routes,
            )
            self.openapi_schema = honest(with_bodies(document, (ImageCreate, RivyaCreate)))
        return self.openapi_schema


def create_app(
    settings: Settings | None = None,
    *,
    seams: Seams | None = None,
    clock: Clock | None = None,
    catalog: Catalog | None = None,
    configure_logs: bool = True,
) -> GatewayApp:
    settings = settings or Settings()
    catalog = catalog or load_catalog(settings.catalog_path)
    if settings.default_model and catalog.get(settings.default_model) is None:
        raise ValueError(f"DEFAULT_MODEL {settings.default_model!r} is not in the catalogue")
    clock = clock or SystemClock()
    metrics = Metrics()  # the app's own registry: two apps in one test share no counters
    made = Ingredients(
        settings=settings,
        catalog=catalog,
        clock=clock,
        metrics=metrics,
        refusals=refused_requests(settings, clock),
        tallies=Tallies.made(settings.request_records, clock, metrics),
        seams=seams or Seams(),  # what tests put under the clients
        configure_logs=configure_logs,
    )
    app = GatewayApp(
        title="Rivya Gateway",
        version="0.1.0",
        description="One internal endpoint in front of Rivya: team keys, budgets, limits, "
        'idempotency. Errors are always {"error": {code, message, requestId}}.',
        # No redirect to "the path without its slash": Starlette builds its Location from the
        # caller's Host header, before auth. A path with a trailing slash is simply not a route.
        redirect_slashes=False,
        lifespan=make_lifespan(made),
        docs_url=None,  # served by api/docs.py, with no CDN
        redoc_url=None,
        # Operation ids are the routes' names (create_image, rivya_get_generation, ...): what a
        # generated client names its functions, as a hand-written SDK would.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings
    app.state.draining = Draining()  # started by the server on SIGTERM (app/lifecycle.py)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    serve_docs(app)
    _add_middleware(app, made)
    return app


def _add_middleware(app: GatewayApp, made: Ingredients) -> None:
    """Outermost first: the gateway's own (request id, body cap, access log, metrics), then
    CORS (it reads the request context the former opens), over FastAPI's router and, apart,
    over the create routes (one held-bodies count for both)."""
    settings = made.settings
    # An upload may be as large as the largest file any model takes, plus its form fields.
    max_upload_bytes = largest_upload(made.catalog) + MULTIPART_OVERHEAD
    gateway_options: dict[str, Any] = {
        "max_body_bytes": settings.max_body_bytes,
        "upload_paths": UPLOAD_PATHS,
        "max_upload_bytes": max_upload_bytes,
        "metrics": made.metrics,
        "refusals": made.refusals,
        "tallies": made.tallies,
        "bodies": HeldBodies(max(settings.request_bodies_bytes, max_upload_bytes)),
    }
    app.add_middleware(CorsMiddleware)
    app.add_middleware(GatewayMiddleware, **gateway_options)
    app.creates = CreateRoutes(_create_routes())
    app.creates_stack = GatewayMiddleware(CorsMiddleware(app.creates), **gateway_options)


def _create_routes() -> dict[str, CreateRoute]:
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
        path: CreateRoute(declared[path], handle, takes_wait)
        for path, (handle, takes_wait) in handlers.items()
    }


class DeferredApp:
    """An ASGI app built when its server first calls it (its lifespan's startup), not when it
    is made: importing ``app.main`` reads no settings, ``.env`` or catalogue. A build that
    fails (a bad setting) fails the startup with its message, so the server exits, whatever
    its lifespan mode."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None and scope["type"] == "lifespan":
            started = await receive()  # lifespan.startup
            try:
                self._app = self._build()
            except Exception as failure:
                await send({"type": "lifespan.startup.failed", "message": str(failure)})
                return
            receive = _replaying(started, receive)
        elif self._app is None:  # a server with no lifespan: built on the first request
            self._app = self._build()
        await self._app(scope, receive, send)


def _replaying(first: Message, receive: Receive) -> Receive:
    """``receive``, giving ``first`` (a message already read) once before what follows."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
