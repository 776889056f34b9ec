"""Two gateways on one Redis whose clocks are 10 s apart still agree on leases and rate
buckets: those decisions read Redis's own clock, never the caller's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI

from app.clock import FakeClock, SystemClock
from tests.rivya_side import Asgi, Reply, Request
from tests.support import (
    Gateway,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    simulator_app,
)


class SkewedClock(SystemClock):
    """A real clock that is wrong by ``skew`` seconds and cannot know it."""

    def __init__(self, skew: float) -> None:
        self._skew = skew

    def now(self) -> float:
        return time.time() + self._skew


class HeldCreates:
    """The simulator, where each create waits at the door until the test lets it through."""

    def __init__(self, sim_app: FastAPI) -> None:
        self._sim = Asgi(sim_app)
        self.arrived = asyncio.Event()
        self.go = asyncio.Event()
        self.creates = 0

    async def __call__(self, request: Request) -> Reply:
        if request.method == "POST":
            self.creates += 1
            self.arrived.set()
            await self.go.wait()
        return await self._sim(request)


def skew_settings(redis_url: str, **overrides: Any) -> Any:
    # A create's lease: 1 s timeout x 1 attempt + 0 budget + 5 s = 6 s, less than the skew.
    values: dict[str, Any] = {
        "rivya_timeout_seconds": 1,
        "rivya_retry_attempts": 1,
        "rivya_retry_budget_seconds": 0,
        "idempotency_wait_seconds": 0,
        "settler_first_poll_min_seconds": 0,
        "settler_first_poll_max_seconds": 0,
    }
    values.update(overrides)
    return gateway_settings(redis_url, **values)


async def settle(gw: Gateway, sim_clock: FakeClock) -> None:
    sim_clock.advance(30)  # every simulated task has ended
    await gw.app.state.services.settler.run_once()


async def test_a_replica_whose_clock_runs_ahead_cannot_take_over_a_create_being_sent(
    redis_url: str,
) -> None:
    sim_clock = FakeClock()
    sim = simulator_app(sim_clock)
    held = HeldCreates(sim)
    settings = skew_settings(redis_url)
    async with (
        running_gateway(settings, sim, SystemClock(), upstream=held) as a,
        running_gateway(settings, sim, SkewedClock(10), upstream=held) as b,
    ):
        key = await a.team_with_key("alpha", budget_period="total")
        body = {"prompt": "p", "client_request_id": "once"}
        first = asyncio.create_task(a.http.post("/v1/images", json=body, headers=bearer(key)))
        await held.arrived.wait()  # replica A is sending the create now
        repeat = await b.http.post("/v1/images", json=body, headers=bearer(key))
        assert repeat.status_code == 409  # B sees A's lease by Redis's clock, not its own
        assert repeat.json()["error"]["code"] == "request_in_progress"
        held.go.set()
        assert (await first).status_code == 202
        assert held.creates == 1  # one holder sent it, once
        await settle(a, sim_clock)
        await assert_books_close(a, "alpha")


async def test_a_replica_whose_clock_runs_ahead_cannot_widen_a_burst(redis_url: str) -> None:
    sim_clock = FakeClock()
    sim = simulator_app(sim_clock)
    settings = skew_settings(redis_url)
    async with (
        running_gateway(settings, sim, SystemClock()) as a,
        running_gateway(settings, sim, SkewedClock(10)) as b,
    ):
        key = await a.team_with_key(
            "alpha", budget_period="total", rate_limit_per_minute=6, burst=2
        )
        made = [await a.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))]
        made.append(await a.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key)))
        third = await b.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert [m.status_code for m in made] == [202, 202]
        assert third.status_code == 429  # B's clock, 10 s ahead, earns it no refill
        assert 9 <= int(third.headers["retry-after"]) <= 10  # one create per 10 s, by Redis
        await settle(a, sim_clock)
        await assert_books_close(a, "alpha")
