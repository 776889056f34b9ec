"""Fixtures: a simulator on a fake clock, and clients talking to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.clock import FakeClock
from app.simulator.app import create_simulator_app
from app.simulator.settings import SimulatorSettings
from app.simulator.state import SimState
from tests.simulator.helpers import AUTH


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> SimulatorSettings:
    # Every field explicit, so SIM_* variables in the environment cannot change a test.
    return SimulatorSettings(
        api_key=SecretStr(AUTH["Authorization"].removeprefix("Bearer ")),
        initial_credits=1000,
        queued_seconds=1.0,
        processing_seconds=4.0,
        failure_rate=0.0,
        latency_ms=0,
        public_base_url=None,
        idempotency_window_seconds=600.0,
        seed=7,
        image_size=256,
    )


@pytest.fixture
def sim_app(settings: SimulatorSettings, clock: FakeClock) -> FastAPI:
    return create_simulator_app(settings, clock=clock)


@pytest.fixture
def state(sim_app: FastAPI) -> SimState:
    sim = sim_app.state.sim
    assert isinstance(sim, SimState)
    return sim


@pytest.fixture
async def client(sim_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends the right API key."""
    transport = httpx.ASGITransport(app=sim_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=AUTH) as c:
        yield c


@pytest.fixture
async def anon(sim_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client without an API key."""
    transport = httpx.ASGITransport(app=sim_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
        yield c
