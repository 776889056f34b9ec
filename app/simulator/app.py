"""The simulator's composition root: ``create_simulator_app`` wires state, routes and errors."""

from __future__ import annotations

from fastapi import FastAPI

from app.catalog import Catalog, default_catalog
from app.clock import Clock, SystemClock
from app.simulator import api, control, public
from app.simulator.errors import install_error_handlers
from app.simulator.middleware import SimulatorMiddleware
from app.simulator.settings import SimulatorSettings
from app.simulator.state import SimState


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
    app.include_router(api.public_router)
    app.include_router(api.router)
    app.include_router(public.router)
    app.include_router(control.router)
    install_error_handlers(app)
    app.add_middleware(SimulatorMiddleware, state=state)
    return app
