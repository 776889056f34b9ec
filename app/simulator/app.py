"""The simulator's composition root: ``create_simulator_app`` wires state, routes and errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from app.catalog import Catalog, default_catalog
from app.clock import Clock, SystemClock
from app.simulator import api, control, public, webhook_routes
from app.simulator.errors import install_error_handlers
from app.simulator.middleware import SimulatorMiddleware
from app.simulator.settings import SimulatorSettings
from app.simulator.state import SimState
from app.simulator.webhooks import SimWebhooks


def create_simulator_app(
    settings: SimulatorSettings | None = None,
    *,
    clock: Clock | None = None,
    catalog: Catalog | None = None,
) -> FastAPI:
    """A fresh simulator with its own state (``app.state.sim``); nothing shared between apps."""
    settings = settings or SimulatorSettings()
    state = SimState(settings, clock or SystemClock(), catalog or default_catalog())
    app = FastAPI(
        title="Rivya Public API (simulator)",
        version="1",
        description="A stand-in for Rivya's public API v1: async generation tasks, files, "
        "credits. Errors are {error:{code,message,requestId}}.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.sim = state
    webhooks = SimWebhooks(state, allow_insecure=settings.allow_insecure_webhooks)
    app.state.webhooks = webhooks
    app.router.lifespan_context = _delivering(webhooks)
    app.include_router(api.public_router)
    app.include_router(api.router)
    app.include_router(webhook_routes.router)
    app.include_router(public.router)
    app.include_router(control.router)
    install_error_handlers(app)
    app.add_middleware(SimulatorMiddleware, state=state)
    return app


def _delivering(
    webhooks: SimWebhooks,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Served, the simulator delivers its webhooks in the background (tests call
    ``deliver_due`` themselves: an app driven in-process runs no lifespan)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stopping = asyncio.Event()
        loop = asyncio.create_task(webhooks.run(stopping))
        try:
            yield
        finally:
            stopping.set()
            await loop

    return lifespan
